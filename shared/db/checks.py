"""Reconciliation's rows: the payments due for a query (claimed under a lease, so that each is asked about by
one worker at a time), the record of every query, and each payment's place in the schedule. A repository:
takes a session, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, insert, select, text, update
from sqlalchemy.orm import Session

from shared.canonical import Status
from shared.db.models import Payment, PaymentCheck
from shared.reconcile.schedule import NextCheck

# Due payments of one provider, earliest first: an index walk of (provider, next_check_at). Each is pushed a
# lease into the future, so another worker leaves it alone while it is asked about; a worker that dies
# leaves it to be asked again when the lease ends.
_CLAIM = text("""
    UPDATE payments p SET next_check_at = now() + make_interval(secs => :lease)
    FROM (SELECT id FROM payments
          WHERE provider = :provider AND next_check_at IS NOT NULL AND next_check_at <= now()
          ORDER BY provider, next_check_at LIMIT :limit FOR UPDATE SKIP LOCKED) due
    WHERE p.id = due.id
    RETURNING p.id, p.provider, p.payment_key, p.order_ref, p.provider_payment_id, p.created_at, p.status,
              p.check_step, coalesce(p.check_reason, 'schedule') AS reason, p.account
""")


@dataclass(frozen=True, slots=True)
class Due:
    """A payment claimed for a query."""

    id: int
    provider: str
    payment_key: str
    order_ref: str | None
    provider_payment_id: str | None
    created_at: datetime
    status: Status
    step: int
    # Why it is asked about: ``schedule``, ``confirm``, ``report``, ``job``, ``manual``.
    reason: str = "schedule"
    account: str = "default"


@dataclass(frozen=True, slots=True)
class Check:
    """One query's record."""

    payment_id: int
    reason: str
    provider_status: str
    result: str
    status_before: Status | None
    status_after: Status | None
    actor: str | None = None


def claim_due(session: Session, provider: str, limit: int, lease_seconds: float) -> list[Due]:
    rows = session.execute(_CLAIM, {"provider": provider, "limit": limit, "lease": lease_seconds})
    return [
        Due(r.id, r.provider, r.payment_key, r.order_ref, r.provider_payment_id, r.created_at, Status(r.status),
            r.check_step, r.reason, r.account)
        for r in rows
    ]  # fmt: skip


def any_due(session: Session, providers: Sequence[str]) -> bool:
    """Whether a query is due for one of ``providers``: an index probe each."""
    for provider in providers:
        due = select(Payment.id).where(
            Payment.provider == provider, Payment.next_check_at.is_not(None), Payment.next_check_at <= func.now()
        )
        if session.execute(due.limit(1)).first() is not None:
            return True
    return False


def ask_now(session: Session, provider: str, order_refs: Sequence[str], reason: str, account: str = "default") -> int:
    """Put the payments of ``provider``'s ``account`` with these order references first in line (a daily report
    listed them); how many there are."""
    if not order_refs:
        return 0
    result = session.execute(
        update(Payment)
        .where(Payment.provider == provider, Payment.account == account, Payment.order_ref.in_(list(order_refs)))
        .values(next_check_at=func.now(), check_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def record(session: Session, checks: Sequence[Check]) -> None:
    if checks:
        session.execute(
            insert(PaymentCheck),
            [
                {
                    "payment_id": c.payment_id, "reason": c.reason, "provider_status": c.provider_status[:500],
                    "result": c.result, "status_before": c.status_before, "status_after": c.status_after,
                    "actor": c.actor,
                }
                for c in checks
            ],
        )  # fmt: skip


# Each payment of a batch at its next place in the schedule, in one statement (one each took a batch's settling
# from milliseconds to most of a second on a busy machine).
_PLAN = text("""
    UPDATE payments p
    SET next_check_at = v.at, check_step = v.step, check_reason = 'schedule',
        unresolved_at = CASE WHEN v.unresolved THEN coalesce(p.unresolved_at, now()) ELSE p.unresolved_at END
    FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[]), CAST(:steps AS integer[]),
                CAST(:unresolved AS boolean[])) AS v(id, at, step, unresolved)
    WHERE p.id = v.id
""")


def plan(session: Session, planned: Sequence[tuple[int, NextCheck]]) -> None:
    """Put payments at their next places in the schedule (or none, or unresolved)."""
    if not planned:
        return
    session.execute(
        _PLAN,
        {
            "ids": [payment_id for payment_id, _ in planned],
            "ats": [None if p.at is None else datetime.fromtimestamp(p.at, UTC) for _, p in planned],
            "steps": [p.step for _, p in planned],
            "unresolved": [p.unresolved for _, p in planned],
        },
    )


@dataclass(frozen=True, slots=True)
class ReconcileFilters:
    """Which payments a bulk reconciliation goes through."""

    providers: tuple[str, ...]
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [Payment.provider.in_(self.providers)]
        if self.status is not None:
            found.append(Payment.status == self.status)
        if self.since is not None:
            found.append(Payment.created_at >= self.since)
        if self.until is not None:
            found.append(Payment.created_at < self.until)
        return found


def newest_payment_id(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(Payment.id), 0))).scalar_one())


def count_payments(session: Session, filters: ReconcileFilters, *, up_to: int) -> int:
    query = select(func.count()).select_from(Payment).where(*filters.where(), Payment.id <= up_to)
    return int(session.execute(query).scalar_one())


def payment_ids(session: Session, filters: ReconcileFilters, *, after: int, up_to: int, limit: int) -> list[int]:
    """The selected payments' ids in id order, after ``after`` and at most ``up_to`` (a job's next chunk)."""
    query = select(Payment.id).where(*filters.where(), Payment.id > after, Payment.id <= up_to)
    return list(session.execute(query.order_by(Payment.id).limit(limit)).scalars())


def ask_ids(session: Session, payment_ids: list[int], *, reason: str) -> int:
    """Put these payments first in line for the reconciler; how many."""
    query = update(Payment).where(Payment.id.in_(payment_ids)).values(next_check_at=func.now(), check_reason=reason)
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


def history(session: Session, payment_id: int, limit: int = 100) -> list[PaymentCheck]:
    """A payment's queries, oldest first (the most recent ``limit``)."""
    query = select(PaymentCheck).where(PaymentCheck.payment_id == payment_id).order_by(PaymentCheck.id.desc())
    return list(reversed(session.execute(query.limit(limit)).scalars().all()))


def unresolved(session: Session, provider: str | None = None, limit: int = 100) -> list[Payment]:
    query = select(Payment).where(Payment.unresolved_at.is_not(None))
    if provider:
        query = query.where(Payment.provider == provider)
    return list(session.execute(query.order_by(Payment.unresolved_at, Payment.id).limit(limit)).scalars())


def count_unresolved(session: Session) -> int:
    return int(session.execute(select(func.count()).where(Payment.unresolved_at.is_not(None))).scalar_one())
