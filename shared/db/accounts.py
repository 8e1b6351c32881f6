"""Merchant accounts kept in PostgreSQL (every account but each provider's ``default``): a repository. Takes a
session, never commits. Settings are stored as JSON, sealed with ``PAYHOOK_ENCRYPTION_KEYS`` when it is set;
their fingerprints are stored beside them, in clear, so that listing needs no key (keyed with a key derived
from the sealing key: they tell nothing of a secret to whoever lacks it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shared.accounts import Account, shown
from shared.db.models import AccountRow
from shared.env import SettingsError
from shared.providers import all_providers
from shared.sealing import Sealer

log = logging.getLogger(__name__)


def _sealed(settings: Mapping[str, str], sealer: Sealer) -> bytes:
    return sealer.seal(orjson.dumps(dict(settings)))


class Unreadable(ValueError):
    """Stored settings that cannot be opened: sealed with a key no longer in ``PAYHOOK_ENCRYPTION_KEYS`` (or
    with encryption off), or not an object of settings."""


def _opened(stored: bytes | None, sealer: Sealer) -> dict[str, str] | None:
    if stored is None:
        return None
    try:
        opened = orjson.loads(sealer.open(stored))
    except (SettingsError, orjson.JSONDecodeError):
        raise Unreadable("its settings cannot be opened with PAYHOOK_ENCRYPTION_KEYS") from None
    if not isinstance(opened, dict):
        raise Unreadable("its settings are not an object")
    return {str(k): str(v) for k, v in opened.items()}


def as_account(row: AccountRow, sealer: Sealer) -> Account:
    """The row as an account; ``Unreadable`` when its settings cannot be opened. Previous settings that cannot
    be (sealed with a key since removed) are dropped: the rotation's overlap ends, the account stays."""
    settings = _opened(row.settings, sealer) or {}
    try:
        previous = _opened(row.previous, sealer)
    except Unreadable:
        previous = None
    return Account(
        provider=row.provider,
        name=row.name,
        enabled=row.enabled,
        settings=settings,
        previous=previous,
        previous_until=row.previous_until.timestamp() if row.previous_until and previous is not None else None,
    )


def load(session: Session, sealer: Sealer) -> list[Account]:
    """Every stored account (of providers this code knows) that can be read. One that cannot (a key removed
    from ``PAYHOOK_ENCRYPTION_KEYS`` too early) is left out and logged: it must not keep every web process and
    the reconciler from loading the others."""
    known = all_providers()
    rows = session.execute(select(AccountRow).order_by(AccountRow.provider, AccountRow.name)).scalars()
    accounts = []
    for row in rows:
        if row.provider not in known:
            continue
        try:
            accounts.append(as_account(row, sealer))
        except Unreadable as exc:
            log.error("account %s of %s is left out: %s", row.name, row.provider, exc)
    return accounts


def find(session: Session, provider: str, name: str, *, lock: bool = False) -> AccountRow | None:
    query = select(AccountRow).where(AccountRow.provider == provider, AccountRow.name == name)
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def listed(session: Session, provider: str | None = None) -> list[AccountRow]:
    query = select(AccountRow).order_by(AccountRow.provider, AccountRow.name)
    if provider:
        query = query.where(AccountRow.provider == provider)
    return list(session.execute(query).scalars())


def add(session: Session, provider: str, name: str, settings: Mapping[str, str], sealer: Sealer) -> AccountRow:
    row = AccountRow(
        provider=provider,
        name=name,
        settings=_sealed(settings, sealer),
        fingerprints=shown(all_providers()[provider], settings, sealer.fingerprint_key),
    )
    session.add(row)
    session.flush()
    return row


def replace_settings(
    session: Session, row: AccountRow, settings: Mapping[str, str], sealer: Sealer, *, keep_previous: float = 0.0
) -> None:
    """New settings; the old ones stay valid for callbacks ``keep_previous`` seconds more (a rotation)."""
    if keep_previous > 0:
        row.previous = row.settings
        row.previous_until = datetime.fromtimestamp(datetime.now(UTC).timestamp() + keep_previous, UTC)
    else:
        row.previous, row.previous_until = None, None
    row.settings = _sealed(settings, sealer)
    row.fingerprints = shown(all_providers()[row.provider], settings, sealer.fingerprint_key)
    row.updated_at = func.now()


def refingerprint(session: Session, sealer: Sealer) -> int:
    """Fingerprints made again wherever they were not made with the sealer's key (rows from before keyed
    fingerprints, or from before the sealing key changed); how many rows changed. Rows that cannot be opened
    are left as they are."""
    changed, known = 0, all_providers()
    for row in session.execute(select(AccountRow).with_for_update()).scalars():
        try:
            settings = _opened(row.settings, sealer) or {}
        except Unreadable:
            continue
        if row.provider not in known:
            continue
        fresh = shown(known[row.provider], settings, sealer.fingerprint_key)
        if fresh != row.fingerprints:
            row.fingerprints, changed = fresh, changed + 1
    return changed


def set_enabled(row: AccountRow, enabled: bool) -> None:
    row.enabled = enabled
    row.updated_at = func.now()


def remove(session: Session, provider: str, name: str) -> int:
    result = session.execute(delete(AccountRow).where(AccountRow.provider == provider, AccountRow.name == name))
    return int(result.rowcount)  # type: ignore[attr-defined]


def opened_settings(row: AccountRow, sealer: Sealer) -> dict[str, str]:
    return _opened(row.settings, sealer) or {}
