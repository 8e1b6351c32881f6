"""The spool table: callbacks the receiver acknowledged while Redis could not take them. A repository:
takes a session, never commits. The receiver writes it without SQLAlchemy (``ingest.spool``)."""

from __future__ import annotations

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from shared.db.models import SpooledCallback
from shared.queue import QueuedCallback, unroute
from shared.sealing import Sealer

# One mover at a time: the spool goes into the stream in spool order, and two movers at once would interleave
# their batches (the set of moved ids keeps a row from being appended twice, not the order).
_MOVER_LOCK = 7_316_042_002


def take_oldest(session: Session, limit: int) -> list[SpooledCallback] | None:
    """The oldest spooled callbacks, in spool order; None when another mover is at work."""
    if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _MOVER_LOCK}).scalar_one():
        return None
    query = select(SpooledCallback).order_by(SpooledCallback.id).limit(limit)
    return list(session.execute(query).scalars())


def as_queued(row: SpooledCallback, sealer: Sealer) -> QueuedCallback:
    provider, account = unroute(row.provider)
    return QueuedCallback(
        provider=provider,
        account=account,
        body=sealer.open(row.body),
        headers={str(k): str(v) for k, v in row.headers.items()},
        received_at=row.received_at,
    )


def remove(session: Session, ids: list[int]) -> None:
    session.execute(delete(SpooledCallback).where(SpooledCallback.id.in_(ids)))


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(SpooledCallback)).scalar_one())
