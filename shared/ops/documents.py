"""What operators see of payments and dead letters: the JSON documents of the CLI and the admin API."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from shared.db.models import AuditEntry, DeadLetter, Payment, PaymentEvent
from shared.db.payments import Conflict
from shared.sealing import Sealer


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def payment_document(payment: Payment, events: list[PaymentEvent]) -> dict[str, Any]:
    return {
        "provider": payment.provider,
        "order_ref": payment.order_ref,
        "payment_key": payment.payment_key,
        "status": str(payment.status),
        "amount": _amount(payment.amount),
        "currency": payment.currency,
        "provider_payment_id": payment.provider_payment_id,
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
        "events": [
            {
                "type": e.event_type,
                "status": str(e.status),
                "outcome": str(e.outcome),
                "amount": _amount(e.amount),
                "refund_amount": _amount(e.refund_amount),
                "currency": e.currency,
                "received_at": e.received_at.isoformat(),
                "event_key": e.event_key,
            }
            for e in events
        ],
    }


def letter_summary(letter: DeadLetter, sealer: Sealer) -> dict[str, Any]:
    """What a listing shows of a dead letter."""
    return {
        "id": letter.id,
        "provider": letter.provider,
        "reason": letter.reason,
        "event_type": letter.event_type,
        "order_ref": letter.order_ref,
        "detail": letter.detail,
        "received_at": letter.received_at.isoformat(),
        "created_at": letter.created_at.isoformat(),
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
        "size": len(sealer.open(letter.body)),
    }


def letter_document(letter: DeadLetter, sealer: Sealer) -> dict[str, Any]:
    """Everything about one dead letter: the raw body (as text, and exactly as base64), headers, traceback."""
    body = sealer.open(letter.body)
    return {
        **letter_summary(letter, sealer),
        "headers": letter.headers,
        "body": body.decode("utf-8", errors="replace"),
        "body_base64": base64.b64encode(body).decode(),
        "traceback": letter.traceback,
    }


def audit_document(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "filters": entry.filters,
        "count": entry.count,
        "outcome": entry.outcome,
        "dry_run": entry.dry_run,
    }


def conflict_document(conflict: Conflict) -> dict[str, Any]:
    payment = conflict.payment
    return {
        "id": payment.id,
        "provider": payment.provider,
        "order_ref": payment.order_ref,
        "payment_key": payment.payment_key,
        "status": str(payment.status),
        "amount": _amount(payment.amount),
        "currency": payment.currency,
        "clashing_statuses": conflict.clashing,
        "conflicts": conflict.conflicts,
        "last_conflict_at": conflict.last_at.isoformat(),
    }
