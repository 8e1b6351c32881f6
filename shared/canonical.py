"""The canonical payment event: what every provider's callback becomes once normalized."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


class Status(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    REVERSED = "reversed"


class DeliveryStatus(enum.StrEnum):
    """Where a delivery of an outbox event to one consumer stands (stored as these words)."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"

    @classmethod
    def unfinished(cls) -> tuple[DeliveryStatus, ...]:
        """Still to be sent: waiting for its time, or being sent."""
        return (cls.PENDING, cls.SENDING)


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    CONFLICT = "conflict"
    # Kept, changes nothing: a callback whose status its signature does not cover waits for the provider's
    # status API to say; the answer is an event of its own.
    UNCONFIRMED = "unconfirmed"


# The outbox's event types: one per status a change sets, and one for a conflict that changes nothing.
CONFLICT_EVENT = "payment.conflict"
EVENT_TYPES = (*(f"payment.{status}" for status in Status), CONFLICT_EVENT)


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    """One provider callback, normalized. After this point no code touches provider dicts."""

    provider: str
    event_type: str
    # The provider's natural identity of this notification; two callbacks with one key are duplicates.
    event_key: str
    # The provider's identity of the payment the event belongs to (one payment attempt).
    payment_key: str
    # The merchant's own reference, when the event carries it (a refund may not).
    order_ref: str | None
    status: Status
    # The payment's own amount, when the event states it (a refund event may not).
    amount: Decimal | None
    currency: str | None
    provider_payment_id: str | None
    occurred_at: datetime | None
    # Money moved back, on refund events: the provider's figure (one refund's, or the running total).
    refund_amount: Decimal | None = None


class NormalizeError(Exception):
    """A callback that can never be processed as it stands; it goes to the dead-letter queue.

    ``reason`` is a short stable code operators filter on; the message names what was wrong.
    """

    reason = "invalid_callback"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidJson(NormalizeError):
    reason = "invalid_json"


class UnknownEvent(NormalizeError):
    reason = "unknown_event"


class UnknownStatus(NormalizeError):
    reason = "unknown_status"


class MissingField(NormalizeError):
    reason = "missing_field"


class InvalidField(NormalizeError):
    reason = "invalid_field"


class InvalidAmount(NormalizeError):
    reason = "invalid_amount"
