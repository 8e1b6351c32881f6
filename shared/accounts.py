"""Merchant accounts: one set of a provider's credentials each. The settings' own credentials are each provider's
account ``default``; others are kept in PostgreSQL (``shared.db.accounts``) and reach every process within
seconds of a change.

An account is the provider's settings for it: the same variables the provider module reads from the
environment (``PAYHOOK_<PROVIDER>_CALLBACK_KEY``, ...), so that the module configures an account exactly as it
configures the environment's. Operators name them by the variable's name without ``PAYHOOK_`` and the
provider's prefix, lower-cased (``callback_key``). Nothing provider-specific lives here: the provider module's
declaration says which settings it reads.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.env import SettingsError
from shared.providers import PREFIX, Provider, all_providers
from shared.queue import DEFAULT_ACCOUNT

# Lower-case letters, digits, '.', '_' and '-', at most 40: it travels in URLs and queue entries.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
# Words that make a setting a credential: an account never inherits it from the environment. Everything else
# (an API's URL, the sources the provider sends from) is the provider's, inherited unless the account sets it.
_CREDENTIAL_WORDS = ("key", "secret", "_id")


class AccountError(ValueError):
    """An account, or a change to one, payhook will not take; the message says why."""


def provider_prefix(provider: Provider) -> str:
    return f"{PREFIX}{provider.name.upper().replace('-', '_')}_"


def keys(provider: Provider) -> dict[str, str]:
    """The settings an account of ``provider`` may hold, by the name operators use: ``callback_key`` for
    ``PAYHOOK_<PROVIDER>_CALLBACK_KEY``. Files are given as ``@PATH`` values, so ``*_FILE`` variants are left out."""
    prefix = provider_prefix(provider)
    variables = {provider.credential, *provider.options, provider.allowed_sources_variable}
    if provider.status_api is not None:
        variables |= set(provider.status_api.settings)
    return {v[len(prefix) :].lower(): v for v in sorted(variables) if v.startswith(prefix) and not v.endswith("_FILE")}


def is_credential(key: str) -> bool:
    return any(word in key for word in _CREDENTIAL_WORDS)


def is_secret(key: str) -> bool:
    return any(word in key for word in ("key", "secret"))


def fingerprint(value: str, key: bytes | None = None) -> str:
    """Enough of a digest to tell two values apart. Keyed (``Sealer.fingerprint_key``), nothing of the value:
    a short secret cannot be found by hashing guesses. Unkeyed (settings stored in clear), a plain digest."""
    if key is None:
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Account:
    provider: str
    name: str
    enabled: bool = True
    # The provider's settings for this account, by variable (``PAYHOOK_<PROVIDER>_CALLBACK_KEY``).
    settings: Mapping[str, str] = field(default_factory=dict)
    # During a rotation: the settings it replaced, valid for callbacks until ``previous_until`` (Unix seconds).
    previous: Mapping[str, str] | None = None
    previous_until: float | None = None

    @property
    def route(self) -> str:
        """Where its callbacks arrive, after ``/callbacks/``."""
        return self.provider if self.name == DEFAULT_ACCOUNT else f"{self.provider}/{self.name}"

    def previous_valid(self, now: float) -> bool:
        return self.previous is not None and self.previous_until is not None and now < self.previous_until


def environ_for(base: Mapping[str, str], provider: Provider, settings: Mapping[str, str]) -> dict[str, str]:
    """The environment a provider module reads for an account: ``base`` without the provider's credentials,
    then the account's settings. An account inherits the provider's other settings (its API's URL, the sources
    it sends from, say); an empty value is no value (``allowed_sources=`` returns to the provider's list, and
    never means "any source")."""
    prefix = provider_prefix(provider)
    kept = {k: v for k, v in base.items() if not (k.startswith(prefix) and is_credential(k[len(prefix) :].lower()))}
    return {**kept, **{k: v for k, v in settings.items() if v.strip()}}


def parse_settings(provider: Provider, pairs: Mapping[str, str]) -> dict[str, str]:
    """Operator-named settings (``callback_key=...``) as the provider's variables; unknown names refused,
    naming the known ones."""
    known = keys(provider)
    unknown = sorted(set(pairs) - set(known))
    if unknown:
        hints = [
            name + (f" (did you mean {meant}?)" if (meant := _closest(name, provider, known)) else "")
            for name in unknown
        ]
        raise AccountError(f"{provider.name} accounts take {', '.join(known)}; not {', '.join(hints)}")
    return {known[key]: value for key, value in pairs.items()}


def _closest(name: str, provider: Provider, known: Mapping[str, str]) -> str | None:
    """The known setting an unknown name was meant to be: a typo, or the variable's full name."""
    bare = name.removeprefix(provider_prefix(provider).lower())
    if bare in known:
        return bare
    return next(iter(difflib.get_close_matches(bare, known, n=1, cutoff=0.75)), None)


def shown(provider: Provider, settings: Mapping[str, str], key: bytes | None = None) -> dict[str, str]:
    """An account's settings as operators may see them: values, but secrets only as fingerprints (keyed with
    ``key`` when given)."""
    names = {variable: name for name, variable in keys(provider).items()}
    return {
        names.get(variable, variable): fingerprint(value, key) if is_secret(names.get(variable, variable)) else value
        for variable, value in sorted(settings.items())
    }


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        # A long name is quoted in part: say how long it is, or the part reads as the name given.
        given = f"{name[:40]!r}... ({len(name)} characters)" if len(name) > 40 else repr(name)
        raise AccountError(
            f"an account's name is 1 to 40 lower-case ASCII letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit; not {given}"
        )
    return name


@dataclass(frozen=True, slots=True)
class Environs:
    """Each account's environment: the settings for ``default``, the stored accounts' own for the others."""

    base: Mapping[str, str]
    stored: Mapping[tuple[str, str], Account] = field(default_factory=dict)

    @classmethod
    def of_accounts(cls, base: Mapping[str, str], accounts: list[Account]) -> Environs:
        return cls(base, {(a.provider, a.name): a for a in accounts if a.enabled})

    def environ(self, provider: Provider, account: str) -> Mapping[str, str] | None:
        """The environment the provider's module reads for ``account``; None for an unknown or disabled one."""
        if account == DEFAULT_ACCOUNT:
            return self.base
        found = self.stored.get((provider.name, account))
        return None if found is None else environ_for(self.base, provider, found.settings)

    def confirms(self, provider: Provider, account: str) -> bool:
        """Whether ``account``'s callbacks wait for the status API's confirmation: by the account's own settings
        (its ``verify``, else the provider's setting it inherits); for an account not stored or disabled, by the
        provider's own default. A setting that does not parse confirms: a body is never trusted by mistake."""
        api = provider.status_api
        if api is None:
            return False
        environ = self.environ(provider, account)
        try:
            return api.confirms_callbacks({} if environ is None else environ)
        except SettingsError:
            return True

    def queried(self) -> dict[str, Provider]:
        """The providers whose status API has credentials in at least one account."""
        found = {}
        for name, provider in all_providers().items():
            api = provider.status_api
            accounts = [DEFAULT_ACCOUNT, *(a for p, a in self.stored if p == name)]
            environs = (self.environ(provider, account) for account in accounts)
            if api is not None and any(e is not None and api.configured(e) for e in environs):
                found[name] = provider
        return found
