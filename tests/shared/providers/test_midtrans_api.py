"""Midtrans's Get Status client against the documented requests and answers (STATUS_APIS.md §3): Basic auth with
the server key, the answer read by the notification's own mapping, its signature_key checked, "not found" as
HTTP 404 or as a body code, and the verification setting."""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal
from typing import Any

import pytest

from shared.canonical import Status
from shared.env import SettingsError
from shared.providers import midtrans
from shared.status_api import Answer, PaymentRef, Verdict
from tests.support.api import Scripted, context, reply, run

KEY = "SB-Mid-server-TEST-payhook-0000"
ENV = {midtrans.KEY_VARIABLE: f"{KEY},SB-Mid-server-OLD", midtrans.API_URL_VARIABLE: "https://api.sandbox.midtrans.com"}
TRANSACTION = "c2b6f3a0-5d1e-4e7a-9f41-0a7d2b9e0c11"
REF = PaymentRef("midtrans", TRANSACTION, "ORD-20250101-0001", TRANSACTION)


def _signed(doc: dict[str, Any], key: str = KEY) -> dict[str, Any]:
    text = doc["order_id"] + doc["status_code"] + doc["gross_amount"] + key
    return {**doc, "signature_key": hashlib.sha512(text.encode()).hexdigest()}


# The documented answer of GET /v2/{id}/status.
PARTIAL_REFUND = _signed({
    "status_code": "200", "status_message": "Success, transaction is found", "transaction_id": TRANSACTION,
    "order_id": "ORD-20250101-0001", "merchant_id": "G000000001", "gross_amount": "150000.00", "currency": "IDR",
    "payment_type": "bank_transfer", "transaction_time": "2025-01-01 10:00:00",
    "settlement_time": "2025-01-01 10:04:10",
    "transaction_status": "partial_refund", "fraud_status": "accept",
    "refunds": [{"refund_key": "rk-0001", "refund_amount": "50000.00", "created_at": "2025-01-02 09:00:00"}],
    "refund_amount": "50000.00",
})  # fmt: skip


def _query(*replies: Any, ref: PaymentRef = REF) -> tuple[Answer, Scripted]:
    script = Scripted(list(replies))
    api, _ = context(script)
    client = midtrans.configure_api(ENV, api)
    assert client is not None
    return run(client.status.query(ref)), script


def _status(**changes: str) -> dict[str, Any]:
    doc = {k: v for k, v in PARTIAL_REFUND.items() if k not in ("refunds", "refund_amount", "signature_key")}
    return _signed({**doc, **changes})


def test_the_query_is_as_documented_and_the_answer_read_like_a_notification() -> None:
    answer, script = _query(reply(200, PARTIAL_REFUND))
    (sent,) = script.sent
    assert (sent.method, sent.url) == ("GET", f"https://api.sandbox.midtrans.com/v2/{TRANSACTION}/status")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert sent.headers["Accept"] == "application/json"
    event = answer.event
    assert answer.verdict is Verdict.FOUND and answer.provider_status == "partial_refund (accept)"
    assert event is not None and event.event_key.startswith("api:")
    assert (event.status, event.amount, event.refund_amount) == (
        Status.PARTIALLY_REFUNDED, Decimal("150000.00"), Decimal("50000.00")
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"transaction_status": "pending", "status_code": "201"}, Status.PENDING),
        ({"transaction_status": "settlement"}, Status.PAID),
        ({"transaction_status": "capture", "fraud_status": "challenge", "status_code": "201"}, Status.PROCESSING),
        ({"transaction_status": "deny", "status_code": "202"}, Status.REVERSED),  # after settlement: a reversal
        ({"transaction_status": "expire", "status_code": "407"}, Status.EXPIRED),
        ({"transaction_status": "cancel", "status_code": "202"}, Status.CANCELLED),
        ({"transaction_status": "chargeback"}, Status.REVERSED),
    ],
)
def test_statuses_map_as_the_table_says(changes: dict[str, str], status: Status) -> None:
    answer, _ = _query(reply(200, _status(**changes)))
    assert answer.event is not None and answer.event.status is status


@pytest.mark.parametrize(
    "answered",
    [
        reply(404, {"status_code": "404", "status_message": "Transaction doesn't exist.", "id": "x"}),
        reply(200, {"status_code": "404", "status_message": "Transaction doesn't exist.", "id": "x"}),
        reply(404, b"<html><body>404 Not Found</body></html>"),
    ],
    ids=["http-404", "body-404-on-http-200", "html-404"],
)
def test_not_found_comes_as_http_404_or_as_a_body_code(answered: Any) -> None:
    answer, _ = _query(answered)
    assert answer.verdict is Verdict.NOT_FOUND and answer.event is None


@pytest.mark.parametrize(
    ("answered", "retry_after"),
    [
        (reply(429, {"status_code": "429", "status_message": "API rate limit exceeded"}, Retry_After="3"), 3.0),
        (reply(200, {"status_code": "429", "status_message": "API rate limit exceeded"}), None),
        (reply(503, {"status_code": "503", "status_message": "bank unreachable"}), None),
        (reply(200, {"status_code": "503", "status_message": "bank unreachable"}), None),
        (reply(401, {"status_code": "401", "status_message": "unauthorized"}), None),
        (reply(200, b"<html>oops</html>"), None),
        (reply(200, {**PARTIAL_REFUND, "signature_key": "0" * 128}), None),
        (reply(200, _status(transaction_status="partial_chargeback")), None),
    ],
    ids=["429", "body-429", "503", "body-503", "401", "html", "answer-signature-wrong", "no-canonical-status"],
)
def test_errors_and_answers_that_cannot_be_trusted_tell_nothing(answered: Any, retry_after: float | None) -> None:
    answer, _ = _query(answered)
    assert answer.verdict is Verdict.UNAVAILABLE and answer.event is None
    assert answer.retry_after == retry_after


def test_an_expected_payment_is_looked_up_by_its_order_id_made_safe_for_the_path() -> None:
    ref = PaymentRef("midtrans", "expected:A#1", "A#1/2", None, by_order_ref=True)
    _, script = _query(reply(404, {"status_code": "404"}), ref=ref)
    assert script.sent[0].url == "https://api.sandbox.midtrans.com/v2/A%231%2F2/status"


def test_verification_is_on_unless_switched_off_and_bad_values_name_the_setting() -> None:
    assert midtrans.confirms_callbacks({})
    assert midtrans.confirms_callbacks({midtrans.VERIFY_VARIABLE: "status-api"})
    assert not midtrans.confirms_callbacks({midtrans.VERIFY_VARIABLE: "off"})
    with pytest.raises(SettingsError, match=midtrans.VERIFY_VARIABLE):
        midtrans.confirms_callbacks({midtrans.VERIFY_VARIABLE: "sometimes"})
