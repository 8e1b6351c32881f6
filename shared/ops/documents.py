"""What operators see: the JSON documents of the CLI, the admin API and the console, for payments, dead letters,
the audit trail and the outbox (endpoints, never their secrets but when made or rotated, and deliveries)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from shared.canonical import DeliveryStatus
from shared.db.models import (
    AuditEntry,
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    Endpoint,
    OutboxEvent,
    Payment,
    PaymentCheck,
    PaymentEvent,
)
from shared.db.payments import Conflict
from shared.sealing import Sealer


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def check_document(check: PaymentCheck) -> dict[str, Any]:
    return {
        "at": check.at.isoformat(),
        "reason": check.reason,
        "provider_status": check.provider_status,
        "result": check.result,
        "status_before": check.status_before,
        "status_after": check.status_after,
        "actor": check.actor,
    }


def unresolved_document(payment: Payment, last: list[PaymentCheck]) -> dict[str, Any]:
    """An unresolved payment: who it is, since when, and what the provider said last."""
    return {
        "provider": payment.provider,
        "account": payment.account,
        "order_ref": payment.order_ref,
        "payment_key": payment.payment_key,
        "status": str(payment.status),
        "unresolved_at": _iso_or_none(payment.unresolved_at),
        "updated_at": payment.updated_at.isoformat(),
        "last_check": check_document(last[-1]) if last else None,
    }


def _payment_core(payment: Payment) -> dict[str, Any]:
    """Who a payment is and where it stands: what every listing of payments starts with."""
    return {
        "id": payment.id,
        "provider": payment.provider,
        "account": payment.account,
        "order_ref": payment.order_ref,
        "payment_key": payment.payment_key,
        "status": str(payment.status),
        "amount": _amount(payment.amount),
        "currency": payment.currency,
    }


def payment_summary(payment: Payment) -> dict[str, Any]:
    """What a listing shows of a payment."""
    return {
        **_payment_core(payment),
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
        "unresolved_at": _iso_or_none(payment.unresolved_at),
    }


def payment_document(
    payment: Payment, events: list[PaymentEvent], checks: list[PaymentCheck] | None = None
) -> dict[str, Any]:
    return {
        **_payment_core(payment),
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
                "source": e.source,
            }
            for e in events
        ],
        "next_check_at": _iso_or_none(payment.next_check_at),
        "unresolved_at": _iso_or_none(payment.unresolved_at),
        "expected_at": _iso_or_none(payment.expected_at),
        "checks": [check_document(c) for c in checks or []],
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
    return {
        **_payment_core(conflict.payment),
        "clashing_statuses": conflict.clashing,
        "conflicts": conflict.conflicts,
        "last_conflict_at": conflict.last_at.isoformat(),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def endpoint_document(endpoint: Endpoint) -> dict[str, Any]:
    rotating = endpoint.previous_secret_expires_at
    return {
        "id": endpoint.id,
        "kind": endpoint.kind,
        "url": endpoint.url,
        "handler": endpoint.handler,
        "events": endpoint.event_types,
        "provider": endpoint.provider,
        "account": endpoint.account,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_valid_until": _iso(rotating) if rotating and rotating > datetime.now(UTC) else None,
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
    }


def delivery_summary(delivery: Delivery, event: OutboxEvent, logged: int) -> dict[str, Any]:
    """``attempts`` counts since the last retry by an operator (the schedule's step); ``attempts_total`` over
    the delivery's life: the ``logged`` attempts, and the one being made while it is ``sending``."""
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": event.event_id,
        "type": event.type,
        "provider": event.provider,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "attempts_total": logged + (delivery.status == DeliveryStatus.SENDING),
        "next_attempt_at": _iso(delivery.next_attempt_at) if delivery.status in DeliveryStatus.unfinished() else None,
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": _iso(delivery.delivered_at),
        "created_at": _iso(delivery.created_at),
    }


def delivery_document(delivery: Delivery, event: OutboxEvent, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    return {
        **delivery_summary(delivery, event, len(attempts)),
        "event": orjson.loads(event.body),
        "attempt_log": [
            {
                "attempted_at": _iso(a.attempted_at),
                "duration_ms": round(a.duration_ms, 1),
                "status_code": a.status_code,
                "response": a.response,
                "error": a.error,
            }
            for a in attempts
        ],
    }
