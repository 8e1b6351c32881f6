"""What operators see, built from rows made in memory (no I/O): a dead letter's body exactly (base64) even
when sealed at rest, an endpoint never showing its secrets and a rotation only while it lasts, a delivery's
next attempt only while it is unfinished, with its event and attempts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
from cryptography.fernet import Fernet

from shared.canonical import DeliveryStatus
from shared.db.models import DeadLetter, Delivery, DeliveryAttempt, Endpoint, OutboxEvent
from shared.ops.documents import delivery_document, delivery_summary, endpoint_document, letter_document
from shared.sealing import Sealer

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_letter_shows_its_exact_body_also_when_sealed_at_rest() -> None:
    sealer = Sealer((Fernet.generate_key().decode(),))
    body = b'{"a": "\xff\xfe"}'
    letter = DeadLetter(
        id=1,
        provider="pivot",
        reason="invalid_json",
        body=sealer.seal(body),
        headers={"x": "y"},
        received_at=AT,
        created_at=AT,
        detail="d",
    )
    doc = letter_document(letter, sealer)
    assert base64.b64decode(doc["body_base64"]) == body and doc["size"] == len(body)
    assert doc["body"] == body.decode("utf-8", errors="replace") and doc["replayed_at"] is None


def _endpoint(expires: datetime | None) -> Endpoint:
    return Endpoint(
        id=3,
        kind="webhook",
        url="http://127.0.0.1:9/hook",
        secret=b"whsec_now",
        previous_secret=b"whsec_before",
        previous_secret_expires_at=expires,
        enabled=True,
        created_at=AT,
        updated_at=AT,
    )


def test_an_endpoint_never_shows_a_secret_and_a_rotation_only_while_it_lasts() -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    doc = endpoint_document(_endpoint(later))
    assert doc["previous_secret_valid_until"] == later.isoformat()
    assert "whsec" not in orjson.dumps(doc).decode()
    assert endpoint_document(_endpoint(datetime.now(UTC) - timedelta(seconds=1)))["previous_secret_valid_until"] is None


def _delivery(status: DeliveryStatus) -> tuple[Delivery, OutboxEvent]:
    delivery = Delivery(id=5, endpoint_id=3, status=status, attempts=2, next_attempt_at=AT, created_at=AT)
    event = OutboxEvent(event_id="evt_1", type="payment.paid", provider="pivot", body=b'{"id": "evt_1"}')
    return delivery, event


def test_a_delivery_shows_its_next_attempt_only_while_unfinished_and_its_attempts() -> None:
    assert delivery_summary(*_delivery(DeliveryStatus.PENDING), 0)["next_attempt_at"] == AT.isoformat()
    assert delivery_summary(*_delivery(DeliveryStatus.FAILED), 0)["next_attempt_at"] is None
    # The attempt being made counts in the total while the delivery is sending.
    assert delivery_summary(*_delivery(DeliveryStatus.SENDING), 2)["attempts_total"] == 3
    attempt = DeliveryAttempt(attempted_at=AT, duration_ms=12.345, status_code=500, response="no", error=None)
    doc = delivery_document(*_delivery(DeliveryStatus.FAILED), [attempt])
    assert doc["event"] == {"id": "evt_1"} and doc["attempts_total"] == 1
    assert doc["attempt_log"] == [
        {"attempted_at": AT.isoformat(), "duration_ms": 12.3, "status_code": 500, "response": "no", "error": None}
    ]
