"""Pivot's stand-in over HTTP: the token as documented, sessions by id and by reference, charges, refunds,
and the refusals and error envelopes of Pivot's response-code table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.standin import PIVOT_ID, PIVOT_SECRET, StandIn


def _get(standin: StandIn, path: str, token: str) -> Any:
    return standin.http.get(f"/pivot{path}", headers={"Authorization": f"Bearer {token}"})


def _session(standin: StandIn, **fields: Any) -> dict[str, Any]:
    body = {"clientReferenceId": "ORD-20250101-0001", "amount": 150000, "currency": "IDR", "status": "PAID", **fields}
    created: dict[str, Any] = standin.sim("PUT", "/pivot/payments", body)
    return created


def test_the_token_is_issued_for_the_merchant_credentials_and_lasts_900_seconds_as_a_string(standin: StandIn) -> None:
    answer = standin.http.post(
        "/pivot/v1/access-token",
        headers={"X-MERCHANT-ID": PIVOT_ID, "X-MERCHANT-SECRET": PIVOT_SECRET},
        json={"grantType": "client_credentials"},
    )

    assert answer.status_code == 200
    body = answer.json()
    assert body["code"] == "00"
    assert body["data"]["expiresIn"] == "900"
    assert body["data"]["tokenType"] == "Bearer"
    assert body["data"]["accessToken"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-MERCHANT-ID": PIVOT_ID, "X-MERCHANT-SECRET": "wrong"}, "wrong X-MERCHANT-SECRET"),
        ({"X-MERCHANT-ID": "someone-else", "X-MERCHANT-SECRET": PIVOT_SECRET}, "unknown X-MERCHANT-ID"),
        ({"X-MERCHANT-ID": PIVOT_ID}, "X-MERCHANT-ID and X-MERCHANT-SECRET are required"),
    ],
)
def test_wrong_merchant_credentials_are_refused_with_credentials_invalid(
    standin: StandIn, headers: dict[str, str], reason: str
) -> None:
    answer = standin.http.post("/pivot/v1/access-token", headers=headers, json={"grantType": "client_credentials"})

    assert answer.status_code == 401
    assert answer.json()["code"] == "credentials_invalid"
    assert standin.requests("pivot")[-1]["auth_failure"] == reason


@pytest.mark.parametrize("body", [{}, {"grantType": "password"}, None])
def test_a_token_request_without_the_client_credentials_grant_is_a_validation_error(
    standin: StandIn, body: dict[str, str] | None
) -> None:
    answer = standin.http.post(
        "/pivot/v1/access-token", headers={"X-MERCHANT-ID": PIVOT_ID, "X-MERCHANT-SECRET": PIVOT_SECRET}, json=body
    )

    assert answer.status_code == 400
    refusal = answer.json()
    assert refusal["code"] == "api_validation_error"
    assert refusal["error"]["type"] == "API_ERROR"
    assert refusal["error"]["details"][0]["field"] == "grantType"


def test_a_token_expires_after_900_seconds_on_the_stand_ins_clock(standin: StandIn) -> None:
    session = _session(standin)
    token = standin.pivot_token()
    standin.sim("POST", "/clock", {"advance": 899})
    assert _get(standin, f"/v2/payments/{session['id']}", token).status_code == 200

    standin.sim("POST", "/clock", {"advance": 2})
    answer = _get(standin, f"/v2/payments/{session['id']}", token)

    assert answer.status_code == 401
    refusal = answer.json()
    assert refusal["code"] == "credentials_invalid"
    assert refusal["error"]["details"] == [{"field": "", "message": "Request new access token"}]
    assert "traceId" in refusal["error"]
    assert standin.requests("pivot")[-1]["auth_failure"] == "token expired"
    assert _get(standin, f"/v2/payments/{session['id']}", standin.pivot_token()).status_code == 200


@pytest.mark.parametrize(("authorization", "reason"), [(None, "no bearer token"), ("Bearer forged", "unknown token")])
def test_the_api_refuses_a_missing_or_unknown_token(standin: StandIn, authorization: str | None, reason: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    answer = standin.http.get("/pivot/v2/payments", headers=headers)

    assert answer.status_code == 401
    assert answer.json()["code"] == "credentials_invalid"
    assert standin.requests("pivot")[-1]["auth_failure"] == reason


def test_a_paid_session_is_shown_with_its_captured_charge(standin: StandIn) -> None:
    session = _session(standin, paymentType="SINGLE")

    answer = _get(standin, f"/v2/payments/{session['id']}", standin.pivot_token())

    assert answer.status_code == 200
    body = answer.json()
    assert body["code"] == "00"
    data = body["data"]
    assert data["status"] == "PAID"
    assert data["amount"] == {"value": 150000, "currency": "IDR"}
    (charge,) = data["chargeDetails"]
    assert charge["status"] == "SUCCESS"
    assert charge["isCaptured"] is True
    assert charge["capturedAmount"] == {"value": 150000, "currency": "IDR"}
    assert charge["paymentSessionId"] == session["id"]


def test_an_unknown_session_id_is_404_resource_missing(standin: StandIn) -> None:
    answer = _get(standin, "/v2/payments/7a1d0c52-3f0e-4c61-9b7e-2d5f00a1c001", standin.pivot_token())

    assert answer.status_code == 404
    assert answer.json()["code"] == "resource_missing"


def test_a_wrong_url_is_404_not_found(standin: StandIn) -> None:
    answer = _get(standin, "/v2/nowhere", standin.pivot_token())

    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_sessions_by_reference_are_a_paginated_list(standin: StandIn) -> None:
    first = _session(standin, status="CANCELLED", cancellationReason="CHARGE_FAILED")
    second = _session(standin)
    _session(standin, clientReferenceId="OTHER")
    token = standin.pivot_token()

    answer = _get(standin, "/v2/payments?clientReferenceId=ORD-20250101-0001&perPage=1", token).json()
    unmatched = _get(standin, "/v2/payments?clientReferenceId=NOPE", token).json()

    assert [s["id"] for s in answer["data"]] == [second["id"]]
    assert answer["pagination"] == {"page": 1, "perPage": 1, "totalItems": 2, "totalPages": 2}
    page_two = _get(standin, "/v2/payments?clientReferenceId=ORD-20250101-0001&perPage=1&page=2", token).json()
    assert [s["id"] for s in page_two["data"]] == [first["id"]]
    assert page_two["data"][0]["chargeDetails"][0]["failureCode"] == "DECLINED_BY_CHANNEL"
    assert unmatched["data"] == []
    assert _get(standin, "/v2/payments?perPage=101", token).json()["code"] == "api_validation_error"


def test_charges_by_reference_list_the_sessions_charges(standin: StandIn) -> None:
    _session(
        standin,
        paymentType="MULTIPLE",
        status="ACTIVE",
        chargeDetails=[{"amount": 25000, "status": "SUCCESS"}, {"amount": 10000, "status": "FAILED"}],
    )

    answer = _get(standin, "/v2/charges?clientReferenceId=ORD-20250101-0001", standin.pivot_token()).json()

    assert [(c["amount"]["value"], c["status"]) for c in answer["data"]] == [(25000, "SUCCESS"), (10000, "FAILED")]
    assert answer["pagination"]["totalItems"] == 2


def test_a_payment_moves_from_pending_to_paid_to_partially_refunded(standin: StandIn) -> None:
    session = _session(standin, status="REQUIRE_PAYMENT_METHOD")
    token = standin.pivot_token()
    assert _get(standin, f"/v2/payments/{session['id']}", token).json()["data"]["chargeDetails"] is None

    standin.sim("PATCH", f"/pivot/payments/{session['id']}", {"status": "PAID"})
    shown = standin.sim("PATCH", f"/pivot/payments/{session['id']}", {"refunds": [{"amount": "500.00"}]})

    assert _get(standin, f"/v2/payments/{session['id']}", token).json()["data"]["status"] == "PAID"
    (refund,) = shown["refunds"]
    assert refund["amount"] == {"currency": "IDR", "value": "500.00"}
    assert refund["isFullAmount"] is False
    assert refund["status"] == "SUCCESS"
    one = _get(standin, f"/v1/refunds/{refund['id']}", token).json()["data"]
    assert one == refund
    assert one["chargeId"] == shown["chargeDetails"][0]["id"]


def test_refunds_are_paginated_and_filtered_by_payment_session(standin: StandIn) -> None:
    mine = _session(standin, refunds=[{"amount": "500.00"}, {"amount": "149500.00", "status": "PENDING"}])
    _session(standin, clientReferenceId="OTHER", refunds=[{"amount": "1.00"}])
    token = standin.pivot_token()

    everything = _get(standin, "/v1/refunds", token).json()
    filtered = _get(standin, f"/v1/refunds?paymentSessionId={mine['id']}&perPage=1", token).json()

    assert everything["pagination"]["totalItems"] == 3
    assert filtered["pagination"] == {"page": 1, "perPage": 1, "totalItems": 2, "totalPages": 2}
    assert filtered["data"][0]["paymentSessionId"] == mine["id"]
    assert _get(standin, "/v1/refunds/nope", token).json()["code"] == "resource_missing"


def test_a_refund_patch_updates_the_refund_it_names(standin: StandIn) -> None:
    session = _session(standin, refunds=[{"id": "r-1", "amount": "500.00", "status": "PENDING"}])

    shown = standin.sim("PATCH", f"/pivot/payments/{session['id']}", {"refunds": [{"id": "r-1", "status": "SUCCESS"}]})

    assert [(r["id"], r["status"], r["amount"]["value"]) for r in shown["refunds"]] == [("r-1", "SUCCESS", "500.00")]


def test_the_control_api_refuses_what_pivot_would_never_hold(standin: StandIn) -> None:
    for body in (
        {"clientReferenceId": "x", "amount": 1, "status": "DONE"},
        {"clientReferenceId": "x", "amount": -1, "status": "PAID"},
        {"clientReferenceId": "x" * 101, "amount": 1, "status": "PAID"},
        {"clientReferenceId": "x", "amount": 1, "status": "PAID", "colour": "red"},
    ):
        assert standin.http.put("/_sim/pivot/payments", json=body).status_code == 400
