"""Merchant accounts kept in PostgreSQL (every account but each provider's ``default``): a repository. Takes a
session, never commits. Settings are stored as JSON, sealed with ``PAYHOOK_ENCRYPTION_KEYS`` when it is set;
their fingerprints are stored beside them, in clear, so that listing needs no key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shared.accounts import Account, shown
from shared.db.models import AccountRow
from shared.providers import all_providers
from shared.sealing import Sealer


def _sealed(settings: Mapping[str, str], sealer: Sealer) -> bytes:
    return sealer.seal(orjson.dumps(dict(settings)))


def _opened(stored: bytes | None, sealer: Sealer) -> dict[str, str] | None:
    if stored is None:
        return None
    return {str(k): str(v) for k, v in orjson.loads(sealer.open(stored)).items()}


def as_account(row: AccountRow, sealer: Sealer) -> Account:
    return Account(
        provider=row.provider,
        name=row.name,
        enabled=row.enabled,
        settings=_opened(row.settings, sealer) or {},
        previous=_opened(row.previous, sealer),
        previous_until=row.previous_until.timestamp() if row.previous_until else None,
    )


def load(session: Session, sealer: Sealer) -> list[Account]:
    """Every stored account (of providers this code knows)."""
    known = all_providers()
    rows = session.execute(select(AccountRow).order_by(AccountRow.provider, AccountRow.name)).scalars()
    return [as_account(row, sealer) for row in rows if row.provider in known]


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
        fingerprints=shown(all_providers()[provider], settings),
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
    row.fingerprints = shown(all_providers()[row.provider], settings)
    row.updated_at = func.now()


def set_enabled(row: AccountRow, enabled: bool) -> None:
    row.enabled = enabled
    row.updated_at = func.now()


def remove(session: Session, provider: str, name: str) -> int:
    result = session.execute(delete(AccountRow).where(AccountRow.provider == provider, AccountRow.name == name))
    return int(result.rowcount)  # type: ignore[attr-defined]


def opened_settings(row: AccountRow, sealer: Sealer) -> dict[str, str]:
    return _opened(row.settings, sealer) or {}
