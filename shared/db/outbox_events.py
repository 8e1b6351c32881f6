"""The outbox: one event per applied status change or recorded conflict, written in the batch's transaction.

The event's body is fixed when it is written (every attempt of every consumer sends the same bytes under the
same ``webhook-id``). Its row id orders a payment's events as they were applied: the payments of a batch are
locked (``shared.db.apply``), so a later batch touching the same payment takes its ids after this one commits.
Each enabled consumer whose filters select the event gets a delivery row in the same statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.canonical import CONFLICT_EVENT as CONFLICT
from shared.canonical import CanonicalEvent, DeliveryStatus, Outcome, Status
from shared.db.models import sql_word

REFUND_STATUSES = frozenset({Status.PARTIALLY_REFUNDED, Status.REFUNDED})

_WRITE = text(f"""
    WITH event AS (
        INSERT INTO outbox_events (event_id, type, provider, account, payment_id, body)
        SELECT v.event_id, v.type, v.provider, v.account, v.payment_id, v.body
        FROM unnest(CAST(:event_ids AS text[]), CAST(:types AS text[]), CAST(:providers AS text[]),
                    CAST(:accounts AS text[]), CAST(:payment_ids AS bigint[]), CAST(:bodies AS bytea[]))
             WITH ORDINALITY AS v(event_id, type, provider, account, payment_id, body, n)
        ORDER BY v.n
        RETURNING id, type, provider, account, payment_id
    )
    INSERT INTO deliveries (event_id, endpoint_id, payment_id, status, next_attempt_at)
    SELECT event.id, e.id, event.payment_id, {sql_word(DeliveryStatus.PENDING)}, now()
    FROM event JOIN endpoints e
      ON e.enabled
     AND (e.event_types IS NULL OR event.type = ANY(e.event_types))
     AND (e.provider IS NULL OR e.provider = event.provider)
     AND (e.account IS NULL OR e.account = event.account)
    RETURNING id
""")  # noqa: S608 - fixed words of an enum, no input


@dataclass(frozen=True, slots=True)
class PaymentView:
    """What the payment looks like once the change is applied."""

    id: int
    order_ref: str | None
    provider_payment_id: str | None
    amount: Decimal | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class Change:
    event: CanonicalEvent
    received_at: float
    payment: PaymentView
    previous: Status | None
    status: Status
    outcome: Outcome
    # Where the event came from: a provider's callback, or its status API's answer.
    source: str = "callback"
    account: str = "default"

    @property
    def type(self) -> str:
        if self.outcome is Outcome.CONFLICT and self.status == self.previous:
            return CONFLICT
        return f"payment.{self.status}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body(change: Change, event_id: str, now: datetime) -> bytes:
    event = change.event
    data: dict[str, object] = {
        "provider": event.provider,
        "order_ref": change.payment.order_ref,
        "provider_payment_id": change.payment.provider_payment_id,
        "payment_key": event.payment_key,
        "status": str(change.status),
        "previous_status": None if change.previous is None else str(change.previous),
        "amount": None if change.payment.amount is None else str(change.payment.amount),
        "currency": change.payment.currency,
        "conflict": change.outcome is Outcome.CONFLICT,
        "provider_event_type": event.event_type,
        "occurred_at": None if event.occurred_at is None else _iso(event.occurred_at),
        "received_at": _iso(datetime.fromtimestamp(change.received_at, UTC)),
        "source": change.source,
        "account": change.account,
    }
    if change.status in REFUND_STATUSES:
        data["refund_amount"] = None if event.refund_amount is None else str(event.refund_amount)
    if change.type == CONFLICT:
        data["conflicting_status"] = str(event.status)
    return orjson.dumps({"id": event_id, "type": change.type, "timestamp": _iso(now), "data": data})


def write(session: Session, changes: list[Change]) -> int:
    """Write the events of ``changes`` (in the order they were applied) and their deliveries; how many
    deliveries were made."""
    if not changes:
        return 0
    now = datetime.now(UTC)
    ids = [f"evt_{uuid.uuid4().hex}" for _ in changes]
    rows = session.execute(
        _WRITE,
        {
            "event_ids": ids,
            "types": [c.type for c in changes],
            "providers": [c.event.provider for c in changes],
            "accounts": [c.account for c in changes],
            "payment_ids": [c.payment.id for c in changes],
            "bodies": [body(c, i, now) for c, i in zip(changes, ids, strict=True)],
        },
    ).all()
    return len(rows)
