"""Reading payments back: the lookups operators (CLI, later the admin API) make."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared.db.models import Payment, PaymentEvent


def find_payment(session: Session, provider: str, reference: str) -> Payment | None:
    """By the merchant's order reference, or by the provider's payment key (a Pivot session id).

    A reference reused for a new attempt (a new Pivot session after the first expired) names several
    payments: the most recently updated one is shown.
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


def payment_document(session: Session, payment: Payment) -> dict[str, Any]:
    events = session.execute(
        select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment.id)
        .order_by(PaymentEvent.received_at, PaymentEvent.id)
    ).scalars()
    return {
        "provider": payment.provider,
        "order_ref": payment.order_ref,
        "payment_key": payment.payment_key,
        "status": str(payment.status),
        "amount": None if payment.amount is None else str(payment.amount),
        "currency": payment.currency,
        "provider_payment_id": payment.provider_payment_id,
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
        "events": [
            {
                "type": e.event_type,
                "status": str(e.status),
                "outcome": str(e.outcome),
                "amount": None if e.amount is None else str(e.amount),
                "currency": e.currency,
                "received_at": e.received_at.isoformat(),
                "event_key": e.event_key,
            }
            for e in events
        ],
    }
