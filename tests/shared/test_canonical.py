"""The canonical event's vocabulary: statuses, delivery states, outcomes, the outbox's event types and the
dead-letter reasons of normalize errors. No I/O."""

from __future__ import annotations

from shared.canonical import (
    CONFLICT_EVENT,
    EVENT_TYPES,
    DeliveryStatus,
    InvalidAmount,
    InvalidField,
    InvalidJson,
    MissingField,
    NormalizeError,
    Status,
    UnknownEvent,
    UnknownStatus,
)


def test_every_status_has_its_event_type_and_a_conflict_has_one_more() -> None:
    assert EVENT_TYPES[-1] == CONFLICT_EVENT == "payment.conflict"
    assert set(EVENT_TYPES[:-1]) == {f"payment.{status.value}" for status in Status}
    assert "payment.partially_refunded" in EVENT_TYPES
    assert len(set(EVENT_TYPES)) == len(Status) + 1


def test_unfinished_deliveries_are_pending_or_sending() -> None:
    assert DeliveryStatus.unfinished() == (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    assert DeliveryStatus.DELIVERED not in DeliveryStatus.unfinished()


def test_each_normalize_error_has_a_stable_reason_of_its_own_and_keeps_its_message() -> None:
    errors = [InvalidJson, UnknownEvent, UnknownStatus, MissingField, InvalidField, InvalidAmount]
    reasons = [error.reason for error in errors]
    assert reasons == [
        "invalid_json",
        "unknown_event",
        "unknown_status",
        "missing_field",
        "invalid_field",
        "invalid_amount",
    ]
    assert NormalizeError.reason not in reasons
    error = MissingField("data.id is missing")
    assert isinstance(error, NormalizeError) and error.message == str(error) == "data.id is missing"
