"""Midtrans: the body's signature_key, its statuses and fraud statuses, payment identity by transaction, the
two notifications of each refund; and hostile input against the real receiver."""

from __future__ import annotations

import hashlib
import json
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis import Redis
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.canonical import InvalidAmount, MissingField, NormalizeError, Status, UnknownStatus
from shared.providers import midtrans
from shared.providers.midtrans import SignatureKeyAuthenticator, configure
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.shared.providers.strategies import PROPERTY, json_text
from tests.support.fixtures import sample, signed, signer
from tests.support.pipeline import drain_all, payment, post, scalar

SANDBOX_KEY = "SB-Mid-server-TEST-payhook-0000"  # the throwaway key that signed the samples


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sample(f"midtrans.{name}"))
    return doc


def _body(doc: dict[str, Any]) -> bytes:
    """``doc`` signed with the throwaway key, as Midtrans would send it."""
    return signed("midtrans", json.dumps(doc).encode())[0]


def _auth(keys: str = SANDBOX_KEY) -> SignatureKeyAuthenticator:
    auth = configure({midtrans.KEY_VARIABLE: keys})
    assert auth is not None
    return auth


def _normalize(doc: dict[str, Any]) -> Any:
    return midtrans.normalize(json.dumps(doc).encode())


# --- the signature_key --------------------------------------------------------------------------------------


def test_every_sample_verifies_by_the_documented_formula() -> None:
    assert signer("midtrans").secret == SANDBOX_KEY
    for name, body in midtrans.PROVIDER.samples().items():
        doc = json.loads(body)
        expected = hashlib.sha512(
            (doc["order_id"] + doc["status_code"] + doc["gross_amount"] + SANDBOX_KEY).encode()
        ).hexdigest()
        assert doc["signature_key"] == expected, name
        assert _auth().refusal({}, body) is None, name


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(gross_amount="150000"), "signature_key does not match"),
        (lambda d: d.update(status_code="200 "), "signature_key does not match"),
        (lambda d: d.update(order_id=d["order_id"].lower()), "signature_key does not match"),
        (lambda d: d.update(signature_key=d["signature_key"].upper()), "signature_key does not match"),
        (lambda d: d.update(signature_key=d["signature_key"][:-1]), "signature_key does not match"),
        (lambda d: d.pop("signature_key"), "signature_key is missing"),
        (lambda d: d.update(signature_key=""), "signature_key is missing"),
        (lambda d: d.update(gross_amount=150000.0), "order_id, status_code and gross_amount must be strings"),
        (lambda d: d.pop("status_code"), "order_id, status_code and gross_amount must be strings"),
    ],
    ids=[
        "amount-reformatted",
        "status-code-padded",
        "order-id-case",
        "hex-upper-case",
        "hex-truncated",
        "no-signature",
        "empty-signature",
        "amount-a-number",
        "no-status-code",
    ],
)
def test_what_the_signature_covers_must_be_exactly_as_signed(change: Any, reason: str) -> None:
    doc = _doc("bank_transfer_settlement")
    change(doc)
    assert _auth().refusal({}, json.dumps(doc).encode()) == reason


def test_another_server_key_does_not_verify_and_a_rotation_accepts_both() -> None:
    body = sample("midtrans.bank_transfer_settlement")
    assert _auth("SB-Mid-server-another").refusal({}, body) == "signature_key does not match"
    assert _auth(f"SB-Mid-server-new, {SANDBOX_KEY}").refusal({}, body) is None


@pytest.mark.parametrize("body", [b"", b"<xml/>", b"[1]", b'"text"', b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_an_object_is_refused_without_raising(body: bytes) -> None:
    assert (_auth().refusal({}, body) or "").endswith("so its signature_key cannot be checked")


def test_the_signature_does_not_cover_the_status_fields() -> None:
    """Midtrans's formula leaves transaction_status, fraud_status and the refunds unsigned: an edited copy of a
    genuine notification still verifies while status_code stays. Deduplication and the state machine bound
    what it can do (a status only rises in rank; paid is never replaced by a failure)."""
    doc = _doc("expire")
    doc["transaction_status"] = "cancel"
    assert _auth().refusal({}, json.dumps(doc).encode()) is None


@pytest.mark.parametrize(
    ("sample_name", "field", "value", "status", "code", "expected"),
    [
        ("bank_transfer_pending", "transaction_status", "settlement", "settlement", "201", "200"),
        ("bank_transfer_settlement", "transaction_status", "deny", "deny", "200", "202"),
        ("bank_transfer_settlement", "transaction_status", "pending", "pending", "200", "201"),
        ("expire", "transaction_status", "settlement", "settlement", "202", "200"),
        ("bank_transfer_pending", "transaction_status", "capture", "capture", "201", "200"),
        ("credit_card_capture_accept", "fraud_status", "challenge", "capture", "200", "201"),
    ],
)
def test_an_edited_status_that_does_not_fit_the_signed_status_code_is_refused(
    sample_name: str, field: str, value: str, status: str, code: str, expected: str
) -> None:
    """A hostile review made a genuine pending notification (201) paid by editing transaction_status alone."""
    doc = _doc(sample_name)
    doc[field] = value
    refusal = _auth().refusal({}, json.dumps(doc).encode())
    assert refusal == f"status_code {code} does not fit transaction_status {status!r} (expected {expected})"


@pytest.mark.parametrize(
    ("status_code", "transaction_status", "fraud_status"),
    [
        ("200", "capture", "accept"),
        ("200", "capture", None),
        ("201", "capture", "challenge"),
        ("202", "capture", "deny"),
        ("200", "capture", "deny"),
        ("200", "settlement", None),
        ("200", "authorize", "accept"),
        ("200", "refund", None),
        ("200", "partial_refund", None),
        ("200", "chargeback", None),
        ("200", "partial_chargeback", None),
        ("201", "pending", None),
        ("202", "deny", "deny"),
        ("202", "cancel", None),
        ("202", "expire", None),
        ("407", "expire", None),
        ("200", "failure", None),
        ("202", "failure", None),
    ],
)
def test_every_documented_pairing_of_status_code_and_status_verifies(
    status_code: str, transaction_status: str, fraud_status: str | None
) -> None:
    doc = _doc("credit_card_capture_accept")
    doc.update(status_code=status_code, transaction_status=transaction_status)
    doc.pop("fraud_status")
    if fraud_status is not None:
        doc["fraud_status"] = fraud_status
    assert _auth().refusal({}, _body(doc)) is None


@PROPERTY
@given(order_id=json_text, status_code=json_text, gross_amount=json_text, forged=st.text(max_size=130))
def test_no_signature_but_the_right_one_verifies(
    order_id: str, status_code: str, gross_amount: str, forged: str
) -> None:
    doc = {"order_id": order_id, "status_code": status_code, "gross_amount": gross_amount, "signature_key": forged}
    right = hashlib.sha512((order_id + status_code + gross_amount + SANDBOX_KEY).encode()).hexdigest()
    refusal = _auth().refusal({}, json.dumps(doc).encode())
    assert (refusal is None) == (forged == right)
    doc["signature_key"] = right
    assert _auth().refusal({}, json.dumps(doc).encode()) is None


# --- statuses -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transaction_status", "fraud_status", "expected"),
    [
        ("pending", "accept", Status.PENDING),
        ("authorize", "accept", Status.PROCESSING),
        ("capture", "accept", Status.PAID),
        ("capture", None, Status.PAID),
        ("capture", "challenge", Status.PROCESSING),
        ("capture", "deny", Status.FAILED),
        ("settlement", "accept", Status.PAID),
        ("deny", "deny", Status.FAILED),
        ("failure", None, Status.FAILED),
        ("cancel", "accept", Status.CANCELLED),
        ("expire", "accept", Status.EXPIRED),
        ("chargeback", "accept", Status.REVERSED),
    ],
)
def test_statuses_and_fraud_statuses_map_as_the_fact_sheet_says(
    transaction_status: str, fraud_status: str | None, expected: Status
) -> None:
    doc = _doc("credit_card_capture_accept")
    doc["transaction_status"] = transaction_status
    if fraud_status is None:
        doc.pop("fraud_status")
    else:
        doc["fraud_status"] = fraud_status
    assert _normalize(doc).status is expected


def test_a_challenged_capture_is_not_paid_and_its_acceptance_is_a_new_event() -> None:
    challenged = _doc("credit_card_capture_accept")
    challenged["fraud_status"] = "challenge"
    held, accepted = _normalize(challenged), _normalize(_doc("credit_card_capture_accept"))
    assert held.status is Status.PROCESSING and accepted.status is Status.PAID
    assert held.event_key != accepted.event_key and held.payment_key == accepted.payment_key


def test_a_deny_after_settlement_is_a_reversal() -> None:
    doc = _doc("bank_transfer_settlement")
    doc["transaction_status"] = "deny"
    assert _normalize(doc).status is Status.REVERSED


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d.update(transaction_status="partial_chargeback"), UnknownStatus),
        (lambda d: d.update(transaction_status="on_fire"), UnknownStatus),
        (lambda d: d.update(fraud_status="maybe"), UnknownStatus),
        (lambda d: d.pop("transaction_id"), MissingField),
        (lambda d: d.pop("order_id"), MissingField),
        (lambda d: d.update(gross_amount="lots"), InvalidAmount),
        (lambda d: d.update(transaction_status="refund"), MissingField),
    ],
    ids=["partial-chargeback", "unknown-status", "unknown-fraud", "no-transaction", "no-order", "amount", "refund"],
)
def test_bad_notifications_raise_a_named_normalize_error(mutate: Any, error: type[Exception]) -> None:
    doc = _doc("credit_card_capture_accept")
    mutate(doc)
    with pytest.raises(error) as caught:
        _normalize(doc)
    assert isinstance(caught.value, NormalizeError) and caught.value.message


def test_amounts_are_exact_and_times_are_jakarta_time() -> None:
    event = _normalize(_doc("bank_transfer_settlement"))
    assert (event.amount, event.currency, event.refund_amount) == (Decimal("150000.00"), "IDR", None)
    assert event.occurred_at.isoformat() == "2025-03-14T10:41:37+07:00"
    assert (event.order_ref, event.payment_key) == ("PH-MT-20250314-0001", "3c9f1a52-7d0e-4b8a-9e61-0f2d4c7b8a13")


# --- refunds ---------------------------------------------------------------------------------------------------


def _unconfirmed(doc: dict[str, Any]) -> dict[str, Any]:
    """The first notification of the newest refund: before the bank confirmed it."""
    doc = json.loads(json.dumps(doc))
    newest = max(doc["refunds"], key=lambda r: r["created_at"])
    newest.pop("bank_confirmed_at", None)
    return doc


def _confirmed(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    for refund in doc["refunds"]:
        refund.setdefault("bank_confirmed_at", "2025-03-17 09:21:30")
    return doc


def _refund_notifications() -> list[dict[str, Any]]:
    partial, full = _doc("partial_refund"), _doc("refund")
    return [partial, _confirmed(partial), _unconfirmed(full), full]


def test_each_refund_notification_is_an_event_of_its_own_with_the_running_total() -> None:
    events = [_normalize(doc) for doc in _refund_notifications()]
    assert len({e.event_key for e in events}) == 4
    assert [e.status for e in events] == [Status.PARTIALLY_REFUNDED] * 2 + [Status.REFUNDED] * 2
    assert [e.refund_amount for e in events] == [Decimal("75000.00")] * 2 + [Decimal("275000.00")] * 2
    assert all(e.amount == Decimal("275000.00") for e in events), "the payment's amount stays the original"


# --- through the real receiver, Redis and PostgreSQL -------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_card_payment_and_its_refunds_in_any_order_end_refunded(
    settings: Settings, web: TestClient, engine: Engine, seed: int
) -> None:
    notifications = [_doc("credit_card_capture_accept"), *_refund_notifications()]
    random.Random(seed).shuffle(notifications)
    for doc in [*notifications, notifications[0]]:
        post(web, "midtrans", _body(doc))
    drain_all(settings)
    shown = payment(engine, "midtrans", "PH-MT-20250314-0002")
    assert shown is not None
    assert (shown["status"], shown["amount"], shown["currency"]) == ("refunded", "275000.00", "IDR")
    outcomes = [e["outcome"] for e in shown["events"]]
    assert outcomes.count("duplicate") == 1 and len(outcomes) == 6


@pytest.mark.integration
def test_an_order_id_reused_after_expiry_shows_its_latest_payment(
    settings: Settings, web: TestClient, engine: Engine
) -> None:
    expired = _doc("expire")
    retried = _doc("bank_transfer_settlement")
    retried.update(order_id=expired["order_id"], gross_amount=expired["gross_amount"])
    post(web, "midtrans", _body(expired))
    drain_all(settings)
    post(web, "midtrans", _body(retried))
    drain_all(settings)
    assert scalar(engine, "SELECT count(*) FROM payments WHERE provider = 'midtrans'") == 2
    shown = payment(engine, "midtrans", expired["order_id"])
    assert shown is not None and shown["status"] == "paid"
    assert shown["provider_payment_id"] == retried["transaction_id"]


@pytest.mark.integration
def test_hostile_midtrans_callbacks_get_401_and_nothing_is_queued(
    settings: Settings, web: TestClient, redis: Redis
) -> None:
    genuine = sample("midtrans.bank_transfer_settlement")
    doc = json.loads(genuine)
    forged = {**doc, "gross_amount": "1.00"}
    other_key = hashlib.sha512((doc["order_id"] + doc["status_code"] + doc["gross_amount"] + "guess").encode())
    hostile = [
        json.dumps(forged).encode(),
        json.dumps({**doc, "signature_key": other_key.hexdigest()}).encode(),
        json.dumps({**doc, "signature_key": None}).encode(),
        b"[" * 50_000 + b"]" * 50_000,
        b'{"order_id": 1e999999}',
        b'{"order_id": "\xff\xfe"}',
        b"\xef\xbb\xbf" + genuine,
        genuine.replace(b"{", b"{" * 2, 1),
    ]
    for body in hostile:
        answer = web.post("/callbacks/midtrans", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 401, (body[:80], answer.text)
        assert answer.json()["error"] == "unauthorized" and "signature_key" in answer.json()["message"]
        assert "SB-Mid" not in answer.text
    assert redis.xlen(QueueKeys(settings.queue_prefix).stream) == 0
    assert web.post("/callbacks/midtrans", content=genuine).status_code == 200
    assert redis.xlen(QueueKeys(settings.queue_prefix).stream) == 1


@pytest.mark.integration
def test_a_pending_notification_edited_to_settlement_is_refused_naming_why(
    settings: Settings, web: TestClient, redis: Redis
) -> None:
    """The hostile review's first finding, through the real receiver: the genuine pending copy with only
    transaction_status edited verifies by its signature_key, and is refused for its status_code."""
    edited = {**_doc("bank_transfer_pending"), "transaction_status": "settlement"}
    answer = web.post("/callbacks/midtrans", content=json.dumps(edited).encode())
    assert answer.status_code == 401
    assert answer.json()["message"] == (
        "callback authentication failed: status_code 201 does not fit transaction_status 'settlement' (expected 200)"
    )
    assert redis.xlen(QueueKeys(settings.queue_prefix).stream) == 0
