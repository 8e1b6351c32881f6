"""Reading payments back: the lookups operators make. A repository: takes a session, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.canonical import Outcome
from shared.db.models import Payment, PaymentEvent


def find_payment(session: Session, provider: str, reference: str, account: str = "default") -> Payment | None:
    """By the merchant's order reference, or by the provider's payment key (the payment a refund names), within
    one merchant account.

    A reference reused for a new attempt (a new session after the first expired) names several payments:
    the most recently updated one is shown.
    """
    query = (
        select(Payment)
        .where(
            Payment.provider == provider,
            Payment.account == account,
            or_(Payment.order_ref == reference, Payment.payment_key == reference),
        )
        .order_by((Payment.order_ref == reference).desc(), Payment.updated_at.desc(), Payment.id.desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def accounts_with(session: Session, provider: str, reference: str) -> list[str]:
    """The merchant accounts holding a payment by this reference: where to look when one account has none."""
    query = (
        select(Payment.account)
        .where(Payment.provider == provider, or_(Payment.order_ref == reference, Payment.payment_key == reference))
        .distinct()
        .order_by(Payment.account)
        .limit(20)
    )
    return list(session.execute(query).scalars())


def count_in_account(session: Session, provider: str, account: str) -> int:
    """How many payments a merchant account holds (they stay when the account is removed)."""
    query = select(func.count()).select_from(Payment).where(Payment.provider == provider, Payment.account == account)
    return int(session.execute(query).scalar_one())


def history(session: Session, payment: Payment) -> list[PaymentEvent]:
    """The payment's events in arrival order."""
    query = (
        select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment.id)
        .order_by(PaymentEvent.received_at, PaymentEvent.id)
    )
    return list(session.execute(query).scalars())


@dataclass(frozen=True, slots=True)
class Conflict:
    payment: Payment
    # The statuses that clashed with the payment's final one, and when the last clash arrived.
    clashing: list[str]
    conflicts: int
    last_at: datetime


def conflicts(
    session: Session, *, provider: str | None = None, limit: int = 50, before: int | None = None
) -> list[Conflict]:
    """Payments whose final outcomes clashed (a paid and a cancelled, say), newest payment first: the cases a
    merchant must act on (refund the money, or tell the customer the cancellation did not hold)."""
    clashes = (
        select(
            PaymentEvent.payment_id,
            func.array_agg(func.distinct(PaymentEvent.status)).label("clashing"),
            func.count().label("conflicts"),
            func.max(PaymentEvent.received_at).label("last_at"),
        )
        .where(PaymentEvent.outcome == Outcome.CONFLICT)
        .group_by(PaymentEvent.payment_id)
        .subquery()
    )
    query = select(Payment, clashes.c.clashing, clashes.c.conflicts, clashes.c.last_at).join(
        clashes, clashes.c.payment_id == Payment.id
    )
    if provider:
        query = query.where(Payment.provider == provider)
    if before is not None:
        query = query.where(Payment.id < before)
    rows = session.execute(query.order_by(Payment.id.desc()).limit(limit)).all()
    return [Conflict(p, sorted(str(s) for s in clashing), n, last) for p, clashing, n, last in rows]
