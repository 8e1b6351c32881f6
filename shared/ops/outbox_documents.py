"""What operators see of the outbox: endpoints (never their secrets, but when made or rotated) and deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from shared.db.models import Delivery, DeliveryAttempt, Endpoint, OutboxEvent


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
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_valid_until": _iso(rotating) if rotating and rotating > datetime.now(UTC) else None,
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
    }


def delivery_summary(delivery: Delivery, event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": event.event_id,
        "type": event.type,
        "provider": event.provider,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at) if delivery.status in ("pending", "sending") else None,
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": _iso(delivery.delivered_at),
        "created_at": _iso(delivery.created_at),
    }


def delivery_document(delivery: Delivery, event: OutboxEvent, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    return {
        **delivery_summary(delivery, event),
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
