"""Reading payments back: the lookups operators make. A repository: takes a session, never commits."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared.db.models import Payment, PaymentEvent


def find_payment(session: Session, provider: str, reference: str) -> Payment | None:
    """By the merchant's order reference, or by the provider's payment key (the payment a refund names).

    A reference reused for a new attempt (a new session after the first expired) names several payments:
    the most recently updated one is shown.
    """
    query = (
        select(Payment)
        .where(
            Payment.provider == provider,
            or_(Payment.order_ref == reference, Payment.payment_key == reference),
        )
        .order_by((Payment.order_ref == reference).desc(), Payment.updated_at.desc(), Payment.id.desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def history(session: Session, payment: Payment) -> list[PaymentEvent]:
    """The payment's events in arrival order."""
    query = (
        select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment.id)
        .order_by(PaymentEvent.received_at, PaymentEvent.id)
    )
    return list(session.execute(query).scalars())
