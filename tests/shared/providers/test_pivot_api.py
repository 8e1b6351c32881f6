"""Pivot's status client against the documented requests and answers (STATUS_APIS.md §1): the 15-minute token
from the merchant's id and secret, the session by id, refunds from their own endpoint, every error code."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.canonical import Status
from shared.providers import pivot
from shared.status_api import Answer, PaymentRef, Verdict
from tests.support.api import NOW, Scripted, context, reply, run

ENV = {
    pivot.API_URL_VARIABLE: "https://api-stg.pivot-payment.com",
    pivot.MERCHANT_ID_VARIABLE: "pivot-test-merchant",
    pivot.MERCHANT_SECRET_VARIABLE: "pivot-test-secret",
}
SESSION_ID = "7a1d0c52-3f0e-4c61-9b7e-2d5f00a1c001"
REF = PaymentRef("pivot", SESSION_ID, "ORD-20250101-0001", SESSION_ID)
TOKEN = reply(200, {"code": "00", "data": {"accessToken": "tok-1", "expiresIn": "900", "tokenType": "Bearer"}})
IDR = {"value": 150000, "currency": "IDR"}
# The documented answer of GET /v2/payments/{id}.
PAID: dict[str, Any] = {"code": "00", "message": "Success", "data": {
    "id": SESSION_ID, "clientReferenceId": "ORD-20250101-0001",
    "amount": IDR, "paymentType": "SINGLE", "paymentMethod": {"type": "QR"},
    "status": "PAID", "createdAt": "2025-01-01T03:00:00Z", "updatedAt": "2025-01-01T03:04:10Z",
    "expiryAt": "2025-01-01T03:15:00Z", "cancelledAt": None, "cancellationReason": None,
    "chargeDetails": [{"id": "0194a1b2-0000-7000-8000-00000000c001", "paymentSessionId": SESSION_ID,
                       "paymentSessionClientReferenceId": "ORD-20250101-0001", "amount": IDR, "capturedAmount": IDR,
                       "isCaptured": True, "status": "SUCCESS", "paidAt": "2025-01-01T03:04:09Z",
                       "failureCode": None}]}}  # fmt: skip
NO_REFUNDS = reply(200, {"code": "00", "data": [], "pagination": {"page": 1, "perPage": 100, "totalPages": 1}})
GATEWAY = {"code": "service_unavailable", "error": {"type": "GATEWAY_ERROR", "trace_id": "x"}}


def _session(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PAID)
    doc["data"].update(changes)
    return doc


def _refunds(*amounts: tuple[str, str], page: int = 1, pages: int = 1) -> Any:
    data = [
        {"id": f"r{i}", "paymentSessionId": SESSION_ID, "amount": {"value": value, "currency": "IDR"}, "status": s}
        for i, (value, s) in enumerate(amounts)
    ]
    return reply(200, {"code": "00", "data": data, "pagination": {"page": page, "perPage": 100, "totalPages": pages}})


def _query(*replies: Any, ref: PaymentRef = REF) -> tuple[Answer, Scripted]:
    script = Scripted(list(replies))
    api, _ = context(script)
    client = pivot.configure_api(ENV, api)
    assert client is not None
    return run(client.status.query(ref)), script


def test_the_token_request_and_the_query_are_as_documented() -> None:
    answer, script = _query(TOKEN, reply(200, PAID), NO_REFUNDS)
    token, query, refunds = script.sent
    assert (token.method, token.url) == ("POST", "https://api-stg.pivot-payment.com/v1/access-token")
    assert token.headers["X-MERCHANT-ID"] == "pivot-test-merchant"
    assert token.headers["X-MERCHANT-SECRET"] == "pivot-test-secret"
    assert token.json() == {"grantType": "client_credentials"}
    assert (query.method, query.url) == ("GET", f"https://api-stg.pivot-payment.com/v2/payments/{SESSION_ID}")
    assert query.headers["Authorization"] == "Bearer tok-1"
    assert refunds.url.startswith("https://api-stg.pivot-payment.com/v1/refunds?paymentSessionId=" + SESSION_ID)
    assert answer.verdict is Verdict.FOUND and answer.provider_status == "PAID"
    event = answer.event
    assert event is not None
    assert (event.status, event.amount, event.currency, event.order_ref) == (
        Status.PAID, Decimal(150000), "IDR", "ORD-20250101-0001"
    )  # fmt: skip
    assert event.payment_key == SESSION_ID and event.event_key.startswith("api:")
    assert event.occurred_at == datetime(2025, 1, 1, 3, 4, 10, tzinfo=UTC)


def test_the_token_is_kept_until_a_minute_before_its_fifteen_minutes_end() -> None:
    script = Scripted([TOKEN, reply(200, _session(status="PROCESSING")), reply(200, _session(status="PROCESSING"))])
    api, tokens = context(script)
    client = pivot.configure_api(ENV, api)
    assert client is not None
    run(client.status.query(REF))
    run(client.status.query(REF))
    assert [s.url.rsplit("/", 1)[-1] for s in script.sent] == ["access-token", SESSION_ID, SESSION_ID]
    ((_, expires),) = tokens.kept.values()
    assert expires == NOW + 900 - 60


def test_a_refused_token_is_renewed_once() -> None:
    expired = reply(401, {"code": "credentials_invalid", "message": "request new access token"})
    answer, script = _query(TOKEN, expired, TOKEN, reply(200, _session(status="EXPIRED")))
    assert [s.url.rsplit("/", 1)[-1] for s in script.sent] == ["access-token", SESSION_ID, "access-token", SESSION_ID]
    assert answer.event is not None and answer.event.status is Status.EXPIRED
    answer, script = _query(TOKEN, expired, TOKEN, expired)
    assert answer.verdict is Verdict.UNAVAILABLE and len(script.sent) == 4


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"status": "REQUIRE_PAYMENT_METHOD"}, Status.PENDING),
        ({"status": "ACTIVE"}, Status.PENDING),
        ({"status": "PROCESSING"}, Status.PROCESSING),
        ({"status": "CANCELLED", "cancellationReason": "REQUESTED_BY_CUSTOMER"}, Status.CANCELLED),
        ({"status": "CANCELLED", "cancellationReason": "CHARGE_FAILED"}, Status.FAILED),
        ({"status": "CANCELLED", "cancellationReason": "FRAUDULENT"}, Status.FAILED),
        ({"status": "EXPIRED"}, Status.EXPIRED),
        ({"status": "INACTIVE"}, Status.EXPIRED),
    ],
)
def test_session_statuses_map_as_the_table_says(changes: dict[str, Any], status: Status) -> None:
    answer, _ = _query(TOKEN, reply(200, _session(**changes)))
    assert answer.event is not None and answer.event.status is status


def test_refunds_are_summed_across_pages_and_only_successful_ones_count() -> None:
    partial, script = _query(
        TOKEN, reply(200, PAID), _refunds(("50000.00", "SUCCESS"), ("9.00", "FAILED"), pages=2),
        _refunds(("20000.00", "SUCCESS"), ("1.00", "PENDING"), page=2, pages=2),
    )  # fmt: skip
    assert "page=2" in script.sent[-1].url
    assert partial.event is not None
    assert (partial.event.status, partial.event.refund_amount) == (Status.PARTIALLY_REFUNDED, Decimal("70000.00"))
    full, _ = _query(TOKEN, reply(200, PAID), _refunds(("150000.00", "SUCCESS")))
    assert full.event is not None and full.event.status is Status.REFUNDED
    assert partial.event.event_key != full.event.event_key


@pytest.mark.parametrize(
    ("answered", "verdict", "retry_after"),
    [
        (reply(404, {"code": "resource_missing", "message": "not found"}), Verdict.NOT_FOUND, None),
        (reply(429, {"code": "frequency_above_limit"}, Retry_After="7"), Verdict.UNAVAILABLE, 7.0),
        (reply(429, {"code": "frequency_above_limit"}), Verdict.UNAVAILABLE, None),
        (reply(503, GATEWAY), Verdict.UNAVAILABLE, None),
        (reply(408, b"timeout"), Verdict.UNAVAILABLE, None),
        (reply(404, {"code": "not_found", "message": "wrong url"}), Verdict.UNAVAILABLE, None),
        (reply(200, b"<html>maintenance</html>"), Verdict.UNAVAILABLE, None),
        (reply(200, b'{"code":"00","data":{"id":'), Verdict.UNAVAILABLE, None),
        (reply(200, _session(status="ON_FIRE")), Verdict.UNAVAILABLE, None),
        (reply(200, _session(amount={"value": "lots", "currency": "IDR"})), Verdict.UNAVAILABLE, None),
    ],
    ids=["unknown-id", "rate-limited-retry-after", "rate-limited", "gateway-error", "timeout", "wrong-url", "html",
         "truncated", "unknown-status", "bad-amount"],
)  # fmt: skip
def test_errors_and_answers_that_do_not_parse_tell_nothing(answered: Any, verdict: Verdict, retry_after: Any) -> None:
    answer, _ = _query(TOKEN, answered)
    assert answer.verdict is verdict and answer.event is None
    assert answer.retry_after == retry_after


def test_a_payment_known_by_its_reference_only_is_looked_up_by_it() -> None:
    listed = reply(200, {"code": "00", "data": [PAID["data"]], "pagination": {"page": 1, "totalPages": 1}})
    ref = PaymentRef("pivot", "expected:ORD-20250101-0001", "ORD-20250101-0001", None, by_order_ref=True)
    answer, script = _query(TOKEN, listed, NO_REFUNDS, ref=ref)
    assert script.sent[1].url.endswith("/v2/payments?clientReferenceId=ORD-20250101-0001")
    assert answer.event is not None and answer.event.payment_key == SESSION_ID
    none, _ = _query(TOKEN, reply(200, {"code": "00", "data": [], "pagination": {"totalPages": 0}}), ref=ref)
    assert none.verdict is Verdict.NOT_FOUND


def test_without_merchant_credentials_pivot_is_not_queried() -> None:
    assert pivot.STATUS_API.configured(ENV)
    assert not pivot.STATUS_API.configured({pivot.MERCHANT_ID_VARIABLE: "x"})
    api, _ = context(Scripted([]))
    assert pivot.configure_api({}, api) is None
