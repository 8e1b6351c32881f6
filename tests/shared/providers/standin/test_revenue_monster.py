"""Revenue Monster's stand-in over HTTP. Requests are signed here, from the documented algorithm alone (not
with the stand-in's code): a misreading on either side fails a test."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from shared.providers._standin import StandInConfig, create_app
from shared.providers._standin.revenue_monster import RevenueMonsterStandIn
from shared.providers._standin.rm_signature import string_to_sign
from tests.shared.providers.standin.rm import (
    ORDER,
    SERVER_KEY,
    call,
    canonical,
    error,
    payment,
    sign,
    signed_headers,
)
from tests.support.fixtures import KEYS
from tests.support.standin import RM_BASIC, StandIn, serve_standin


def test_the_token_answer_has_the_documented_fields(standin: StandIn) -> None:
    tokens = standin.rm_tokens()

    assert tokens["tokenType"] == "Bearer"
    assert tokens["expiresIn"] == 2591999
    assert tokens["refreshToken"]
    assert tokens["refreshTokenExpiresIn"] > 0


@pytest.mark.parametrize(
    ("authorization", "body", "status", "code"),
    [
        (
            "Basic " + base64.b64encode(b"rm-test-client:wrong").decode(),
            {"grantType": "client_credentials"},
            401,
            "InvalidClient",
        ),
        (None, {"grantType": "client_credentials"}, 401, "InvalidClient"),
        (RM_BASIC, {}, 400, "InvalidRequest"),
        (RM_BASIC, {"grantType": "password"}, 400, "UnSupportedGrantType"),
        (RM_BASIC, {"grantType": "refresh_token", "refreshToken": "forged"}, 400, "InvalidGrant"),
    ],
)
def test_the_token_endpoint_refuses_bad_credentials_and_grants(
    standin: StandIn, authorization: str | None, body: dict[str, str], status: int, code: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    answer = standin.http.post("/revenue-monster/oauth/v1/token", headers=headers, json=body)

    assert (answer.status_code, error(answer)) == (status, code)
    assert standin.requests("revenue-monster")[-1]["auth_failure"]


def test_a_refresh_token_gets_a_new_access_token(standin: StandIn) -> None:
    first = standin.rm_tokens()

    answer = standin.http.post(
        "/revenue-monster/oauth/v1/token",
        headers={"Authorization": RM_BASIC},
        json={"grantType": "refresh_token", "refreshToken": first["refreshToken"]},
    )

    assert answer.status_code == 200
    assert answer.json()["accessToken"] != first["accessToken"]
    payment(standin)
    assert (
        call(standin, "GET", f"/v3/payment/transaction/order/{ORDER}", answer.json()["accessToken"]).status_code == 200
    )


def test_a_signed_query_by_order_and_by_transaction_answers_the_item(standin: StandIn) -> None:
    created = payment(standin, status="PARTIAL_REFUNDED", balanceAmount=1000, transactionAt="2025-01-01T03:04:10Z")
    token = standin.rm_tokens()["accessToken"]

    by_order = call(standin, "GET", f"/v3/payment/transaction/order/{ORDER}", token)
    by_id = call(standin, "GET", f"/v3/payment/transaction/{created['transactionId']}", token)

    assert by_order.status_code == 200
    assert by_order.json() == by_id.json()
    item = by_order.json()["item"]
    assert by_order.json()["code"] == "SUCCESS"
    assert item["status"] == "PARTIAL_REFUNDED"
    assert (item["order"]["amount"], item["finalAmount"], item["balanceAmount"]) == (2590, 2590, 1000)
    assert item["currencyType"] == "MYR"
    assert item["transactionAt"] == "2025-01-01T03:04:10Z"


def test_an_unknown_transaction_is_404_transaction_not_found(standin: StandIn) -> None:
    token = standin.rm_tokens()["accessToken"]

    for path in (f"/v3/payment/transaction/order/{ORDER}", "/v3/payment/transaction/250101030410010427000001"):
        answer = call(standin, "GET", path, token)
        assert (answer.status_code, error(answer)) == (404, "TRANSACTION_NOT_FOUND")


def test_the_checkout_query_signs_its_query_string(standin: StandIn) -> None:
    payment(standin, checkoutId="1548316308361173347")
    standin.sim(
        "PUT",
        "/revenue-monster/payments",
        {"orderId": "ORD-B", "amount": 100, "checkoutId": "c-expired", "checkoutStatus": "EXPIRED"},
    )
    token = standin.rm_tokens()["accessToken"]

    answer = call(standin, "GET", "/v3/payment/online?checkoutId=1548316308361173347", token)
    expired = call(standin, "GET", "/v3/payment/online?checkoutId=c-expired", token).json()["item"]

    assert answer.status_code == 200
    assert answer.json()["item"]["status"] == "SUCCESS"
    assert answer.json()["item"]["transactionId"]
    assert (expired["status"], expired["transactionId"]) == ("EXPIRED", "")
    # A checkout never paid has no transaction: the order is not found.
    assert error(call(standin, "GET", "/v3/payment/transaction/order/ORD-B", token)) == "TRANSACTION_NOT_FOUND"


def test_a_signature_over_the_url_without_its_query_string_is_refused(standin: StandIn) -> None:
    payment(standin, checkoutId="c-1")
    token = standin.rm_tokens()["accessToken"]
    url = f"{standin.url}/revenue-monster/open/v3/payment/online"

    answer = standin.http.get(f"{url}?checkoutId=c-1", headers=signed_headers("GET", url, token))

    assert (answer.status_code, error(answer)) == (401, "INVALID_REQUEST_SIGNATURE")


def test_the_verifier_rebuilds_the_documented_get_example_exactly(tmp_path: Any) -> None:
    """The docs' GET example, by hand: served at Revenue Monster's sandbox URL, with the clock at its time."""
    nonce = "Qk3nW2sY8vRt1LpXzA9bC4dE6fG0hJ5k"
    by_hand = (
        f"method=get&nonceStr={nonce}"
        "&requestUrl=https://sb-open.revenuemonster.my/v3/payment/transaction/order/ORD20250101A"
        "&signType=sha256&timestamp=1735700650"
    )
    url = "https://sb-open.revenuemonster.my/v3/payment/transaction/order/ORD20250101A"
    assert string_to_sign("GET", url, None, nonce, "1735700650") == by_hand
    app = create_app(StandInConfig.from_env({}, KEYS))
    world = app.world  # type: ignore[attr-defined]
    control = TestClient(app)
    control.put("/_sim/revenue-monster/payments", json={"orderId": ORDER, "amount": 2590, "status": "SUCCESS"})
    token = control.post(
        "/revenue-monster/oauth/v1/token", headers={"Authorization": RM_BASIC}, json={"grantType": "client_credentials"}
    ).json()["accessToken"]
    world.clock.set(1735700650 + 30)
    rm = world.providers["revenue-monster"]
    assert isinstance(rm, RevenueMonsterStandIn)
    sandbox = TestClient(rm.open_api(), base_url="https://sb-open.revenuemonster.my")
    headers = {"Authorization": f"Bearer {token}", "X-Nonce-Str": nonce, "X-Timestamp": "1735700650"}

    answer = sandbox.get(
        "/v3/payment/transaction/order/ORD20250101A", headers={**headers, "X-Signature": sign(by_hand)}
    )
    refused = sandbox.get(
        "/v3/payment/transaction/order/ORD20250101A",
        headers={**headers, "X-Nonce-Str": "other", "X-Signature": sign(by_hand)},
    )

    assert answer.status_code == 200, answer.text
    assert refused.json()["debug"]["preVerifyContent"]["step3"]["content"] == by_hand.replace(nonce, "other")


def test_a_post_body_is_verified_in_its_canonical_form_whatever_its_layout(standin: StandIn) -> None:
    token = standin.rm_tokens()["accessToken"]
    body = {
        "transactionType": "PAYMENT",
        "date": "2025-01-01",
        "method": [],
        "region": [],
        "cursor": "",
        "note": "<&>/",
    }

    answer = call(standin, "POST", "/v3/payment/reconciliation", token, body)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"items": [], "code": "SUCCESS", "meta": {"cursor": ""}}


def test_a_tampered_body_is_refused(standin: StandIn) -> None:
    token = standin.rm_tokens()["accessToken"]
    body = {"transactionType": "PAYMENT", "date": "2025-01-01", "method": [], "region": [], "cursor": ""}
    tampered = json.dumps({**body, "date": "2025-01-02"}).encode()

    answer = call(standin, "POST", "/v3/payment/reconciliation", token, body, raw=tampered)

    assert (answer.status_code, error(answer)) == (401, "INVALID_REQUEST_SIGNATURE")
    assert answer.json()["debug"]["requestHeader"]["X-Signature"]["isValid"] is False
    assert standin.requests("revenue-monster")[-1]["auth_failure"] == "signature does not verify"


def test_a_signature_by_another_key_is_refused(standin: StandIn) -> None:
    token = standin.rm_tokens()["accessToken"]
    url = f"{standin.url}/revenue-monster/open/v3/payment/transaction/order/{ORDER}"
    headers = signed_headers("GET", url, token)
    nonce, stamp = headers["X-Nonce-Str"], headers["X-Timestamp"]
    message = f"method=get&nonceStr={nonce}&requestUrl={url}&signType=sha256&timestamp={stamp}"

    answer = standin.http.get(url, headers={**headers, "X-Signature": sign(message, SERVER_KEY)})

    assert error(answer) == "INVALID_REQUEST_SIGNATURE"


@pytest.mark.parametrize(
    ("offset", "code"), [(-121, "INVALID_TIMESTAMP"), (121, "INVALID_TIMESTAMP"), (-115, None), (115, None)]
)
def test_a_timestamp_more_than_120_seconds_off_is_refused(standin: StandIn, offset: int, code: str | None) -> None:
    payment(standin)
    token = standin.rm_tokens()["accessToken"]

    answer = call(standin, "GET", f"/v3/payment/transaction/order/{ORDER}", token, stamp=str(int(time.time()) + offset))

    assert (error(answer) if code else answer.status_code) == (code or 200)


def test_a_millisecond_timestamp_is_tolerated(standin: StandIn) -> None:
    payment(standin)
    token = standin.rm_tokens()["accessToken"]

    answer = call(standin, "GET", f"/v3/payment/transaction/order/{ORDER}", token, stamp=str(int(time.time() * 1000)))

    assert answer.status_code == 200


def test_a_nonce_is_refused_again_within_120_seconds(standin: StandIn) -> None:
    payment(standin)
    token = standin.rm_tokens()["accessToken"]
    path = f"/v3/payment/transaction/order/{ORDER}"
    assert call(standin, "GET", path, token, nonce="n" * 32).status_code == 200

    again = call(standin, "GET", path, token, nonce="n" * 32)

    assert error(again) == "INVALID_REQUEST_SIGNATURE"
    assert again.json()["debug"]["requestHeader"]["X-Nonce-Str"]["isValid"] is False
    assert standin.requests("revenue-monster")[-1]["auth_failure"] == "X-Nonce-Str was used in the last 120 s"
    standin.sim("POST", "/clock", {"advance": 121})
    later = str(int(time.time()) + 121)
    assert (
        call(standin, "GET", path, standin.rm_tokens()["accessToken"], nonce="n" * 32, stamp=later).status_code == 200
    )


@pytest.mark.parametrize(("authorization", "reason"), [(None, "no bearer token"), ("Bearer forged", "token invalid")])
def test_the_api_refuses_a_missing_or_unknown_token(standin: StandIn, authorization: str | None, reason: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    answer = standin.http.get(f"/revenue-monster/open/v3/payment/transaction/order/{ORDER}", headers=headers)

    assert (answer.status_code, error(answer)) == (401, "TOKEN_INVALID")
    assert standin.requests("revenue-monster")[-1]["auth_failure"] == reason


def test_an_access_token_expires_on_the_clock_and_is_refused_with_token_expired() -> None:
    with serve_standin({"PAYHOOK_SIMULATE_REVENUE_MONSTER_TOKEN_SECONDS": "60"}) as running:
        standin = StandIn(running.url, httpx.Client(base_url=running.url))
        payment(standin)
        tokens = standin.rm_tokens()
        assert tokens["expiresIn"] == 60
        standin.sim("POST", "/clock", {"advance": 61})
        stamp = str(int(time.time()) + 61)

        answer = call(standin, "GET", f"/v3/payment/transaction/order/{ORDER}", tokens["accessToken"], stamp=stamp)

        assert (answer.status_code, error(answer)) == (401, "TOKEN_EXPIRED")
        fresh = standin.rm_tokens()["accessToken"]
        assert call(standin, "GET", f"/v3/payment/transaction/order/{ORDER}", fresh, stamp=stamp).status_code == 200
        standin.http.close()


def test_the_sdks_documented_deviations_are_tolerated(standin: StandIn) -> None:
    """PHP sends an empty data= for an empty body and escapes ' as \\u0027; Go names the report's filters
    methods and regions."""
    payment(standin, transactionAt="2025-01-01T03:04:10Z")
    token = standin.rm_tokens()["accessToken"]
    base = f"{standin.url}/revenue-monster/open"

    def sent(method: str, path: str, data: str, content: bytes | None = None) -> httpx.Response:
        nonce, stamp = secrets.token_hex(16), str(int(time.time()))
        message = f"data={data}&method={method.lower()}&nonceStr={nonce}&requestUrl={base}{path}"
        headers = {"Authorization": f"Bearer {token}", "X-Nonce-Str": nonce, "X-Timestamp": stamp}
        headers["X-Signature"] = sign(f"{message}&signType=sha256&timestamp={stamp}")
        return standin.http.request(method, f"{base}{path}", headers=headers, content=content)

    report = {"transactionType": "PAYMENT", "date": "2025-01-01", "method": [], "region": [], "note": "it's"}
    php = base64.b64encode(canonical(report).replace(b"'", b"\\u0027")).decode()
    go = {"transactionType": "PAYMENT", "date": "2025-01-01", "methods": ["TNG"], "regions": ["MALAYSIA"]}

    assert sent("GET", f"/v3/payment/transaction/order/{ORDER}", "").status_code == 200
    assert sent("POST", "/v3/payment/reconciliation", php, json.dumps(report).encode()).status_code == 200
    assert len(call(standin, "POST", "/v3/payment/reconciliation", token, go).json()["items"]) == 1
    assert (
        call(standin, "POST", "/v3/payment/reconciliation", token, {**go, "methods": ["GRABPAY"]}).json()["items"] == []
    )
