"""Merchant accounts as operators manage them: add, list, show, rotate credentials, disable, enable, remove.
Every change is audited in its own transaction, then announced (a version key in Redis) so that every web
process reloads its routing table within seconds; secrets are never shown back, only their fingerprints."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from redis.exceptions import RedisError

from shared.accounts import (
    Account,
    AccountError,
    check_name,
    environ_for,
    is_credential,
    keys,
    parse_settings,
    shown,
)
from shared.connections import Connections
from shared.db import accounts as table
from shared.db.models import AccountRow
from shared.db.payments import count_in_account
from shared.env import SettingsError
from shared.ops.audit import Refused, audited
from shared.providers import Provider, all_providers, configure
from shared.queue import DEFAULT_ACCOUNT
from shared.status_api import check_settings

# The longest a replaced credential stays valid: a rotation retires the old key (a leaked one) for good.
MAX_KEEP_PREVIOUS_SECONDS = 30 * 86400.0


def account_document(row: AccountRow, environ: Mapping[str, str]) -> dict[str, Any]:
    """An account as operators see it; ``inherited`` lists the provider's settings in ``environ`` that hold for
    it because it does not set them (the sources its callbacks may come from, its API's URL)."""
    route = f"/callbacks/{row.provider}/{row.name}"
    return {
        "provider": row.provider,
        "name": row.name,
        "enabled": row.enabled,
        "route": route,
        "settings": row.fingerprints,
        "inherited": inherited(row, environ),
        "previous_valid_until": row.previous_until.isoformat() if row.previous_until else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def inherited(row: AccountRow, environ: Mapping[str, str]) -> dict[str, str]:
    """The provider's settings in ``environ`` that hold for the account because it does not set them (an empty
    value of its own is none)."""
    provider = all_providers().get(row.provider)
    if provider is None:
        return {}
    held = {
        variable: environ[variable]
        for name, variable in keys(provider).items()
        if not row.fingerprints.get(name) and not is_credential(name) and environ.get(variable, "").strip()
    }
    return shown(provider, held)


class AccountService(Connections):
    def _provider(self, name: str) -> Provider:
        found = all_providers().get(name)
        if found is None:
            raise Refused(f"unknown provider {name!r} ({', '.join(sorted(all_providers()))})")
        return found

    def _checked(self, provider: Provider, pairs: Mapping[str, str]) -> dict[str, str]:
        """The account's settings as variables, refused unless they configure the provider's callbacks."""
        try:
            settings = parse_settings(provider, pairs)
            environ = environ_for(self.settings.environ, provider, settings)
            configured = configure(provider, environ)
            if provider.status_api is not None:
                check_settings(provider.status_api, environ)
        except (AccountError, SettingsError) as exc:
            raise Refused(str(exc)) from None
        if configured.authenticator is None:
            needed = next(k for k, v in keys(provider).items() if v == provider.credential)
            raise Refused(f"a {provider.name} account needs its callback credential {needed}")
        return settings

    def _announce(self) -> None:
        """Tell every web process to reload its routes now (each reloads every minute anyway)."""
        with contextlib.suppress(RedisError):
            self.redis.incr(self.keys.accounts_version)

    def add_account(self, provider: str, name: str, pairs: Mapping[str, str], *, actor: str) -> dict[str, Any]:
        with audited(self, actor, "account_add", target=f"{provider}/{name}") as (session, result):
            chosen = self._provider(provider)
            _check(name)
            if table.find(session, provider, name) is not None:
                raise Refused(f"{provider} already has an account {name!r}")
            row = table.add(session, provider, name, self._checked(chosen, pairs), self.sealer)
            document = account_document(row, self.settings.environ)
            result.count = 1
        self._announce()
        return document

    def accounts(self, provider: str | None = None) -> list[dict[str, Any]]:
        with self.session() as session:
            return [account_document(row, self.settings.environ) for row in table.listed(session, provider)]

    def account(self, provider: str, name: str) -> dict[str, Any] | None:
        with self.session() as session:
            row = table.find(session, provider, name)
            return None if row is None else account_document(row, self.settings.environ)

    def rotate_account(
        self, provider: str, name: str, pairs: Mapping[str, str], *, actor: str, keep_previous: float = 86400.0
    ) -> dict[str, Any]:
        """New values for some settings (the others are kept); the old credentials stay valid for callbacks
        ``keep_previous`` seconds more, so the provider's dashboard can change at leisure."""
        with audited(self, actor, "account_rotate", target=f"{provider}/{name}") as (session, result):
            _check_overlap(keep_previous)
            chosen = self._provider(provider)
            row = self._stored(session, provider, name)
            try:
                stored = table.opened_settings(row, self.sealer)
            except table.Unreadable as exc:
                raise Refused(f"{provider} account {name!r}: {exc}; remove it and add it again") from None
            merged = {**stored, **self._variables(chosen, pairs)}
            settings = self._checked(chosen, _named(chosen, merged))
            table.replace_settings(session, row, settings, self.sealer, keep_previous=keep_previous)
            session.flush()
            document = account_document(row, self.settings.environ)
            overlap = f"the previous valid {keep_previous:g} s more" if keep_previous > 0 else "the previous at once"
            result.text, result.count = f"rotated {', '.join(sorted(pairs))}; {overlap}", 1
        self._announce()
        return document

    def set_account_enabled(self, provider: str, name: str, enabled: bool, *, actor: str) -> dict[str, Any]:
        action = "account_enable" if enabled else "account_disable"
        with audited(self, actor, action, target=f"{provider}/{name}") as (session, result):
            row = self._stored(session, provider, name)
            table.set_enabled(row, enabled)
            session.flush()
            document = account_document(row, self.settings.environ)
            result.count = 1
        self._announce()
        return document

    def remove_account(self, provider: str, name: str, *, actor: str) -> int:
        """Forget the account; its payments stay under its name (an account added again by that name holds them
        again). Returns how many payments stayed."""
        with audited(self, actor, "account_remove", target=f"{provider}/{name}") as (session, result):
            self._stored(session, provider, name)
            kept = count_in_account(session, provider, name)
            result.count = table.remove(session, provider, name)
            result.text = f"removed; {kept} payment{'' if kept == 1 else 's'} kept under its name"
        self._announce()
        return kept

    def stored_accounts(self) -> list[Account]:
        with self.session() as session:
            return table.load(session, self.sealer)

    def _stored(self, session: Any, provider: str, name: str) -> AccountRow:
        self._provider(provider)
        row = table.find(session, provider, name, lock=True)
        if row is None:
            said = " (the settings' own: change them in the environment)" if name == DEFAULT_ACCOUNT else ""
            raise Refused(f"{provider} has no stored account {name!r}{said}")
        return row

    def _variables(self, provider: Provider, pairs: Mapping[str, str]) -> dict[str, str]:
        try:
            return parse_settings(provider, pairs)
        except AccountError as exc:
            raise Refused(str(exc)) from None


def _named(provider: Provider, settings: Mapping[str, str]) -> dict[str, str]:
    names = {variable: key for key, variable in keys(provider).items()}
    return {names[variable]: value for variable, value in settings.items() if variable in names}


def _check_overlap(keep_previous: float) -> None:
    """The overlap ends within 30 days (``1e300`` seconds overflowed a traceback; years kept a leaked key)."""
    if not 0 <= keep_previous <= MAX_KEEP_PREVIOUS_SECONDS:  # NaN and infinities too
        raise Refused(f"keep_previous is 0 to {MAX_KEEP_PREVIOUS_SECONDS:.0f} seconds (30 days); not {keep_previous:g}")


def _check(name: str) -> None:
    if name == DEFAULT_ACCOUNT:
        raise Refused("the account 'default' is the settings' own credentials; name another")
    try:
        check_name(name)
    except AccountError as exc:
        raise Refused(str(exc)) from None


__all__ = ["AccountService", "account_document", "inherited", "shown"]
