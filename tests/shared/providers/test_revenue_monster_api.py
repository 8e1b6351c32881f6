"""Revenue Monster's status client against the documented requests and answers (STATUS_APIS.md §2): the OAuth
token, every request signed with the merchant's key exactly as documented, the transaction by order id, the
daily settlement report of refunds, and each error code."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.canonical import Status
from shared.providers import revenue_monster as rm
from shared.status_api import Answer, PaymentRef, Reply, Verdict
from tests.support.api import NOW, Scripted, Sent, context, reply, run
from tests.support.fixtures import KEYS

ENV = {
    rm.API_URL_VARIABLE: "https://sb-open.revenuemonster.my",
    rm.OAUTH_URL_VARIABLE: "https://sb-oauth.revenuemonster.my",
    rm.CLIENT_ID_VARIABLE: "rm-test-client",
    rm.CLIENT_SECRET_VARIABLE: "rm-test-secret",
    rm.PRIVATE_KEY_VARIABLE + "_FILE": str(KEYS / "revenue-monster-merchant-test-private.pem"),
}
REF = PaymentRef("revenue-monster", "ORD20250101A", "ORD20250101A", None)
TOKEN = reply(200, {"accessToken": "tok-1", "tokenType": "Bearer", "expiresIn": 2591999, "refreshToken": "r"})
# The documented answer of GET /v3/payment/transaction/order/{orderId}.
ITEM: dict[str, Any] = {
    "transactionId": "250101030410010427000001", "referenceId": "P2501010304XYZ",
    "order": {"id": "ORD20250101A", "title": "Order A", "detail": "", "additionalData": "", "amount": 2590},
    "currencyType": "MYR", "finalAmount": 2590, "balanceAmount": 1000, "method": "TNG", "region": "MALAYSIA",
    "type": "WEB_PAYMENT", "platform": "OPEN_API", "status": "PARTIAL_REFUNDED",
    "transactionAt": "2025-01-01T03:04:10Z", "createdAt": "2025-01-01T03:03:55Z", "updatedAt": "2025-01-02T09:00:00Z",
}  # fmt: skip


def _merchant_public_key() -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key((KEYS / "revenue-monster-merchant-test-public.pem").read_bytes())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _signed_as_documented(sent: Sent) -> bool:
    """Rebuild the string to sign from the request as sent (STATUS_APIS.md §2.2), by hand, and verify."""
    parts = []
    if sent.body:
        parts.append("data=" + base64.b64encode(sent.body_canonical()).decode())
    parts += [
        f"method={sent.method.lower()}", f"nonceStr={sent.headers['X-Nonce-Str']}", f"requestUrl={sent.url}",
        "signType=sha256", f"timestamp={sent.headers['X-Timestamp']}",
    ]  # fmt: skip
    scheme, _, signature = sent.headers["X-Signature"].partition(" ")
    assert scheme == "sha256"
    try:
        _merchant_public_key().verify(
            base64.b64decode(signature), "&".join(parts).encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception:
        return False
    return True


def _client(script: Scripted, now: float = NOW) -> Any:
    api, _ = context(script, now)
    client = rm.configure_api(ENV, api)
    assert client is not None and client.report is not None
    return client


def _query(*replies: Reply | Answer, ref: PaymentRef = REF, now: float = NOW) -> tuple[Answer, Scripted]:
    script = Scripted(list(replies))
    return run(_client(script, now).status.query(ref)), script


def test_the_documented_get_signing_string_is_built_exactly() -> None:
    url = "https://sb-open.revenuemonster.my/v3/payment/transaction/order/ORD20250101A"
    assert rm.request_signing_string("GET", url, None, "Qk3", "1735700650") == (
        b"method=get&nonceStr=Qk3&requestUrl=https://sb-open.revenuemonster.my/v3/payment/transaction/order/"
        b"ORD20250101A&signType=sha256&timestamp=1735700650"
    )
    for empty in (b"", b"{}", b"null"):
        assert rm.request_signing_string("POST", url, empty, "n", "1").startswith(b"method=post&")


def test_a_post_body_is_signed_as_sorted_compact_json_with_html_escapes() -> None:
    body = b'{"z": 1, "a": {"y": "<&>", "b": [2, 1]}, "s": "a/b"}'
    signed = rm.request_signing_string("POST", "https://x/v3/p", body, "n", "1")
    data = signed.split(b"&")[0].removeprefix(b"data=")
    assert base64.b64decode(data) == b'{"a":{"b":[2,1],"y":"\\u003c\\u0026\\u003e"},"s":"a/b","z":1}'


def test_the_token_and_the_query_are_as_documented() -> None:
    answer, script = _query(TOKEN, reply(200, {"item": ITEM, "code": "SUCCESS"}))
    token, query = script.sent
    assert (token.method, token.url) == ("POST", "https://sb-oauth.revenuemonster.my/v1/token")
    assert token.headers["Authorization"] == "Basic " + base64.b64encode(b"rm-test-client:rm-test-secret").decode()
    assert token.json() == {"grantType": "client_credentials"}
    assert query.url == "https://sb-open.revenuemonster.my/v3/payment/transaction/order/ORD20250101A"
    assert query.headers["Authorization"] == "Bearer tok-1"
    assert query.headers["X-Timestamp"] == str(int(NOW)) and len(query.headers["X-Nonce-Str"]) == 32
    assert _signed_as_documented(query)
    event = answer.event
    assert answer.verdict is Verdict.FOUND and event is not None
    assert (event.status, event.amount, event.currency, event.refund_amount) == (
        Status.PARTIALLY_REFUNDED, Decimal("25.90"), "MYR", Decimal("15.90")
    )  # fmt: skip
    assert (event.payment_key, event.order_ref, event.provider_payment_id) == (
        "ORD20250101A", "ORD20250101A", "250101030410010427000001"
    )  # fmt: skip
    assert event.occurred_at == datetime(2025, 1, 2, 9, tzinfo=UTC)


def test_every_request_has_a_fresh_nonce() -> None:
    script = Scripted([TOKEN, *(reply(200, {"item": ITEM, "code": "SUCCESS"}) for _ in range(3))])
    client = _client(script)
    for _ in range(3):
        run(client.status.query(REF))
    nonces = {sent.headers["X-Nonce-Str"] for sent in script.sent[1:]}
    assert len(nonces) == 3 and all(_signed_as_documented(sent) for sent in script.sent[1:])


@pytest.mark.parametrize(
    ("status", "canonical"),
    [("SUCCESS", Status.PAID), ("FAILED", Status.FAILED), ("IN_PROCESS", Status.PROCESSING),
     ("FULL_REFUNDED", Status.REFUNDED), ("PARTIAL_REFUNDED", Status.PARTIALLY_REFUNDED),
     ("REVERSED", Status.REVERSED)],
)  # fmt: skip
def test_statuses_map_as_the_table_says(status: str, canonical: Status) -> None:
    answer, _ = _query(TOKEN, reply(200, {"item": {**ITEM, "status": status}, "code": "SUCCESS"}))
    assert answer.event is not None and answer.event.status is canonical


def test_an_expired_token_is_renewed_once() -> None:
    expired = reply(401, {"error": {"code": "TOKEN_EXPIRED", "message": "token expired"}})
    answer, script = _query(TOKEN, expired, TOKEN, reply(200, {"item": ITEM, "code": "SUCCESS"}))
    assert [s.url.rsplit("/", 2)[-2] for s in script.sent] == ["v1", "order", "v1", "order"]
    assert answer.verdict is Verdict.FOUND


def test_not_found_inside_the_checkout_window_is_said_so() -> None:
    missing = reply(404, {"error": {"code": "TRANSACTION_NOT_FOUND", "message": "not found"}})
    recent = PaymentRef("revenue-monster", "O1", "O1", None, created_at=datetime.fromtimestamp(NOW - 600, UTC))
    answer, _ = _query(TOKEN, missing, ref=recent)
    assert answer.verdict is Verdict.NOT_FOUND and "checkout window" in answer.provider_status
    late = PaymentRef("revenue-monster", "O1", "O1", None, created_at=datetime.fromtimestamp(NOW - 7200, UTC))
    answer, _ = _query(TOKEN, missing, ref=late)
    assert answer.verdict is Verdict.NOT_FOUND and "window" not in answer.provider_status


@pytest.mark.parametrize(
    ("answered", "retry_after"),
    [
        (reply(429, {"error": {"code": "EXCEEDED_LIMIT", "message": "Rate limit exceeded"}}), None),
        (reply(400, {"error": {"code": "TOO_MANY_REQUEST_PER_SECOND", "message": "slow down"}}), None),
        (reply(429, {"error": {"code": "EXCEEDED_LIMIT"}}, Retry_After="Wed, 01 Jan 2025 03:05:10 GMT"), 60.0),
        (reply(502, b"<html>bad gateway</html>"), None),
        (reply(400, {"error": {"code": "INVALID_REQUEST_SIGNATURE", "message": "x", "debug": {}}}), None),
        (reply(200, {"item": {**ITEM, "status": "ON_HOLD"}, "code": "SUCCESS"}), None),
        (reply(200, {"item": {**ITEM, "finalAmount": "x", "status": "FULL_REFUNDED"}, "code": "SUCCESS"}), None),
        (reply(200, b'{"item": {'), None),
    ],
    ids=["exceeded", "too-many", "retry-after-date", "html", "bad-signature", "unknown-status", "bad-amount",
         "truncated"],
)  # fmt: skip
def test_errors_and_answers_that_do_not_parse_tell_nothing(answered: Any, retry_after: float | None) -> None:
    answer, _ = _query(TOKEN, answered)
    assert answer.verdict is Verdict.UNAVAILABLE and answer.event is None
    assert answer.retry_after == retry_after


def test_the_settlement_report_is_read_page_by_page_and_signed() -> None:
    page = {"items": [{"orderId": "A1", "transactionType": "REFUND", "grossAmount": "12.50"}], "meta": {"cursor": "c2"}}
    last = {"items": [{"orderId": "B2", "transactionType": "REFUND"}], "meta": {"cursor": ""}, "code": "SUCCESS"}
    script = Scripted([TOKEN, reply(200, page), reply(200, last)])
    found = run(_client(script).report.refunded_on(date(2025, 1, 1)))
    assert found == ["A1", "B2"]
    first, second = script.sent[1:]
    assert first.url == "https://sb-open.revenuemonster.my/v3/payment/reconciliation"
    assert first.json() == {"transactionType": "REFUND", "date": "2025-01-01", "method": [], "region": [], "cursor": ""}
    assert second.json()["cursor"] == "c2"
    assert _signed_as_documented(first) and _signed_as_documented(second)
    failing = Scripted([TOKEN, reply(503, b"")])
    assert run(_client(failing).report.refunded_on(date(2025, 1, 1))) is None


def test_credentials_and_keys_are_all_needed_and_bad_keys_name_the_setting() -> None:
    assert rm.STATUS_API.configured(ENV)
    assert not rm.STATUS_API.configured({**ENV, rm.CLIENT_SECRET_VARIABLE: ""})
    broken = {**ENV, rm.PRIVATE_KEY_VARIABLE + "_FILE": str(KEYS / "revenue-monster-merchant-test-public.pem")}
    api, _ = context(Scripted([]))
    with pytest.raises(ValueError, match="PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY_FILE"):
        rm.configure_api(broken, api)
