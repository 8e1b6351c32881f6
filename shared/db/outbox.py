"""The outbox's consumers and deliveries as operators see them: a repository. Takes a session, never commits.

Events are written with their deliveries in the change's transaction (``shared.db.outbox_events``); claiming
deliveries belongs to the workers (``workers.delivery``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from shared.canonical import DeliveryStatus
from shared.db.models import Delivery, DeliveryAttempt, Endpoint, OutboxEvent
from shared.sealing import Sealer

# What a retry makes due again: all but a delivery being sent right now.
_RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.PENDING, DeliveryStatus.DELIVERED)


@dataclass(frozen=True, slots=True)
class DeliveryFilters:
    endpoint_id: int | None = None
    status: DeliveryStatus | None = None

    def to_document(self) -> dict[str, Any]:
        """As the audit trail keeps them: only what is set."""
        found = {"endpoint_id": self.endpoint_id, "status": None if self.status is None else str(self.status)}
        return {k: v for k, v in found.items() if v is not None}


def add_endpoint(
    session: Session,
    sealer: Sealer,
    url: str,
    secret: str,
    events: Sequence[str] | None,
    provider: str | None,
    account: str | None = None,
) -> Endpoint:
    endpoint = Endpoint(
        kind="webhook",
        url=url,
        secret=sealer.seal(secret.encode()),
        event_types=list(events) if events else None,
        provider=provider,
        account=account,
        enabled=True,
    )
    session.add(endpoint)
    session.flush()
    session.refresh(endpoint)
    return endpoint


def endpoints(session: Session) -> list[Endpoint]:
    return list(session.scalars(select(Endpoint).order_by(Endpoint.id)))


def endpoint(session: Session, endpoint_id: int, *, lock: bool = False) -> Endpoint | None:
    query = select(Endpoint).where(Endpoint.id == endpoint_id)
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def change_endpoint(session: Session, found: Endpoint, changes: dict[str, Any]) -> Endpoint:
    """Apply ``changes`` (url, event_types, provider, account, enabled); enabling clears the reason it was
    disabled."""
    for name, value in changes.items():
        setattr(found, name, value)
    if changes.get("enabled") is True:
        found.disabled_reason = None
    elif changes.get("enabled") is False and found.disabled_reason is None:
        found.disabled_reason = "disabled by an operator"
    found.updated_at = datetime.now(UTC)
    session.flush()
    return found


def remove_endpoint(session: Session, endpoint_id: int) -> bool:
    """Remove a consumer with its deliveries and their attempts."""
    result = session.execute(delete(Endpoint).where(Endpoint.id == endpoint_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def rotate_secret(session: Session, sealer: Sealer, found: Endpoint, secret: str, keep_seconds: float) -> datetime:
    """The new secret signs from now on; the old one signs too until the returned time."""
    until = datetime.now(UTC) + timedelta(seconds=keep_seconds)
    found.previous_secret, found.previous_secret_expires_at = found.secret, until
    found.secret = sealer.seal(secret.encode())
    found.updated_at = datetime.now(UTC)
    session.flush()
    return until


def deliveries(
    session: Session, filters: DeliveryFilters, *, limit: int, before: int | None = None
) -> list[tuple[Delivery, OutboxEvent]]:
    """Newest first; ``before`` is the last id of the previous page."""
    query = select(Delivery, OutboxEvent).join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
    if filters.endpoint_id is not None:
        query = query.where(Delivery.endpoint_id == filters.endpoint_id)
    if filters.status is not None:
        query = query.where(Delivery.status == filters.status)
    if before is not None:
        query = query.where(Delivery.id < before)
    return [(d, e) for d, e in session.execute(query.order_by(Delivery.id.desc()).limit(limit)).all()]


def delivery(session: Session, delivery_id: int) -> tuple[Delivery, OutboxEvent, list[DeliveryAttempt]] | None:
    found = session.execute(
        select(Delivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .where(Delivery.id == delivery_id)
    ).one_or_none()
    if found is None:
        return None
    attempts = session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
    )
    return found[0], found[1], list(attempts)


def attempt_counts(session: Session, delivery_ids: Sequence[int]) -> dict[int, int]:
    """The attempts each delivery has logged over its whole life (``Delivery.attempts`` starts again at an
    operator's retry: it is what the retry schedule runs on)."""
    if not delivery_ids:
        return {}
    counted = session.execute(
        select(DeliveryAttempt.delivery_id, func.count())
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
        .group_by(DeliveryAttempt.delivery_id)
    )
    return {int(row[0]): int(row[1]) for row in counted}


def matching_deliveries(session: Session, filters: DeliveryFilters) -> list[int]:
    query = select(Delivery.id).order_by(Delivery.id)
    if filters.endpoint_id is not None:
        query = query.where(Delivery.endpoint_id == filters.endpoint_id)
    if filters.status is not None:
        query = query.where(Delivery.status == filters.status)
    return list(session.scalars(query))


def retry(session: Session, delivery_ids: Sequence[int]) -> list[int]:
    """Make deliveries due now with a fresh schedule: failed ones, waiting ones, and delivered ones (sent
    again, same id and body); one being sent is left alone. The ids made due."""
    if not delivery_ids:
        return []
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Delivery)
        .where(
            Delivery.id.in_(list(delivery_ids)),
            Delivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.PENDING, DeliveryStatus.DELIVERED)),
        )
        .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=func.now())
        .returning(Delivery.id)
    )
    return sorted(result.scalars())


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {status: count for status, count in rows}
