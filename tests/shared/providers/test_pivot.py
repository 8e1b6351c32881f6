"""Pivot Payment: the X-API-Key check, the event mapping, refunds, exact amounts."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.canonical import InvalidAmount, MissingField, NormalizeError, Status, UnknownEvent
from shared.providers import pivot
from shared.providers._auth import SecretRing
from shared.providers.pivot import ApiKeyAuthenticator, configure
from tests.support.fixtures import sample

TEST_KEY = "k" * 32
STATUS = {
    "PAYMENT.PROCESSING": Status.PROCESSING,
    "PAYMENT.PAID": Status.PAID,
    "PAYMENT.CANCELLED": Status.CANCELLED,
    "CHARGE.SUCCESS": Status.PAID,
}


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sample(f"pivot.{name}"))
    return doc


def _normalize(doc: dict[str, Any]) -> Any:
    return pivot.normalize(json.dumps(doc).encode())


def _auth(keys: str = TEST_KEY) -> ApiKeyAuthenticator:
    auth = configure({pivot.KEY_VARIABLE: keys})
    assert auth is not None
    return auth


# --- authentication -----------------------------------------------------------------------------------------


def test_key_is_compared_exactly() -> None:
    verifier = ApiKeyAuthenticator(SecretRing(("secret-key",)))
    assert verifier.refusal({"x-api-key": "secret-key"}, b"") is None
    for wrong in ["", "secret-ke", "secret-key ", "SECRET-KEY", "secret-key-longer", "sécret-key"]:
        assert verifier.refusal({"x-api-key": wrong}, b"") is not None
    assert verifier.refusal({}, b"") == "X-API-Key is missing"


def test_every_key_of_a_rotation_is_accepted() -> None:
    verifier = _auth("old-key, new-key")
    for key in ("old-key", "new-key"):
        assert verifier.refusal({"x-api-key": key}, b"") is None
    assert verifier.refusal({"x-api-key": "other"}, b"") == "X-API-Key is wrong"


near_keys = st.one_of(
    st.text(max_size=40),
    st.builds(lambda i, c: TEST_KEY[:i] + c + TEST_KEY[i + 1 :], st.integers(0, 31), st.characters()),
    st.sampled_from([TEST_KEY[:-1], TEST_KEY + "k", TEST_KEY.upper(), f" {TEST_KEY}", f"{TEST_KEY}\t"]),
)


@settings(max_examples=200, deadline=None)
@given(key=near_keys, body=st.binary(max_size=256))
def test_any_other_key_is_refused(key: str, body: bytes) -> None:
    assume(key != TEST_KEY)
    assert _auth().refusal({"x-api-key": key}, body) == ("X-API-Key is wrong" if key else "X-API-Key is missing")


def test_its_key_is_accepted() -> None:
    """The property above refuses everything: make sure it is not because nothing is ever accepted."""
    assert _auth().refusal({"x-api-key": TEST_KEY}, b"") is None
    assert _auth(f"{'j' * 32} {TEST_KEY}").refusal({"x-api-key": TEST_KEY}, b"") is None


# --- normalizing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["payment_processing", "payment_paid", "payment_cancelled", "charge_success"])
def test_payment_samples_map_to_their_status_with_exact_amounts(name: str) -> None:
    doc = _doc(name)
    event = _normalize(doc)
    assert event.status is STATUS[doc["event"]]
    assert event.order_ref == doc["data"]["clientReferenceId"]
    assert event.payment_key == doc["data"]["id"]
    assert event.amount == Decimal(doc["data"]["amount"]["value"])
    assert event.currency == doc["data"]["amount"]["currency"]
    assert event.refund_amount is None


def test_test_ping_is_accepted_and_changes_nothing() -> None:
    assert _normalize(_doc("payment_test")) is None


def test_cancelled_by_timeout_is_expired() -> None:
    doc = _doc("payment_cancelled")
    doc["data"]["status"] = "EXPIRED"
    assert _normalize(doc).status is Status.EXPIRED


def test_refund_belongs_to_its_session_and_carries_the_refund_amount_apart() -> None:
    doc = _doc("refund_success")
    event = _normalize(doc)
    assert event.payment_key == doc["data"]["paymentSessionId"]
    assert event.status is Status.PARTIALLY_REFUNDED
    assert event.amount is None, "a refund does not state the payment's amount"
    assert event.refund_amount == Decimal(doc["data"]["amount"]["value"])


def test_full_refund_is_refunded_and_keeps_its_decimal_amount() -> None:
    doc = _doc("refund_success")
    doc["data"]["isFullAmount"] = True
    doc["data"]["amount"]["value"] = "10000.50"
    event = _normalize(doc)
    assert event.status is Status.REFUNDED
    assert event.refund_amount == Decimal("10000.50")


@pytest.mark.parametrize("event_name", ["REFUND.PENDING", "REFUND.WAITING_BANK_TRANSFER", "REFUND.FAILED"])
def test_unfinished_refund_leaves_the_payment_paid(event_name: str) -> None:
    doc = _doc("refund_success")
    doc["event"] = event_name
    event = _normalize(doc)
    assert event.status is Status.PAID
    assert event.event_key != _normalize(_doc("refund_success")).event_key


def test_unknown_extra_fields_are_tolerated() -> None:
    doc = _doc("payment_paid")
    doc["data"]["brandNewField"] = {"nested": [1, 2, {"x": None}]}
    doc["somethingElse"] = True
    assert _normalize(doc).status is Status.PAID


def test_duplicate_notifications_share_an_event_key_and_distinct_ones_do_not() -> None:
    paid, again, processing = (_normalize(_doc(n)) for n in ("payment_paid", "payment_paid", "payment_processing"))
    assert paid.event_key == again.event_key
    assert paid.event_key != processing.event_key
    assert paid.payment_key == processing.payment_key


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d.update(event="PAYMENT.EXPLODED"), UnknownEvent),
        (lambda d: d["data"].pop("clientReferenceId"), MissingField),
        (lambda d: d["data"]["amount"].update(value="ten thousand"), InvalidAmount),
        (lambda d: d["data"]["amount"].update(value=True), InvalidAmount),
        (lambda d: d["data"]["amount"].update(value=-5), InvalidAmount),
        (lambda d: d.update(data=[]), NormalizeError),
    ],
    ids=["unknown-event", "missing-order-ref", "amount-words", "amount-bool", "amount-negative", "data-not-object"],
)
def test_bad_callbacks_raise_a_named_normalize_error(mutate: Any, error: type[Exception]) -> None:
    doc = _doc("payment_paid")
    mutate(doc)
    with pytest.raises(error) as caught:
        _normalize(doc)
    assert isinstance(caught.value, NormalizeError) and caught.value.message


def test_charge_times_with_and_without_offset() -> None:
    """Regression (found by the properties): naive and aware charge times were compared (a TypeError). A time
    without an offset means UTC, so the later charge names the event whichever way its time is written."""
    doc = _doc("charge_success")
    earlier = {"id": "earlier", "status": "SUCCESS", "paidAt": "2025-07-01T02:00:05+07:00"}  # 19:00:05 UTC
    later = {"id": "later", "status": "SUCCESS", "paidAt": "2025-07-01T02:00:00"}  # naive: 02:00:00 UTC
    for charges in ([earlier, later], [later, earlier], [later, {}, earlier]):
        doc["data"]["chargeDetails"] = charges
        event = _normalize(doc)
        assert event.event_key == "CHARGE.SUCCESS:later"
        assert event.status is Status.PAID
