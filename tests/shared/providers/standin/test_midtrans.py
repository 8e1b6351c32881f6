"""Midtrans's stand-in over HTTP: Basic auth with the server key of each environment, the flat answer and
its signature_key, the status codes by status, refunds, and "Transaction doesn't exist." in both modes."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from tests.shared.providers.standin.conftest import midtrans_auth
from tests.support.standin import MIDTRANS_KEY, StandIn, serve_standin

PRODUCTION_KEY = "Mid-server-TEST-payhook-production-0000"


def _status(standin: StandIn, key: str, *, prefix: str = "/midtrans", secret: str = MIDTRANS_KEY) -> httpx.Response:
    return standin.http.get(f"{prefix}/v2/{key}/status", headers=midtrans_auth(secret))


def _transaction(standin: StandIn, **fields: Any) -> dict[str, Any]:
    body = {"order_id": "ORD-20250101-0001", "gross_amount": "150000.00", "transaction_status": "settlement", **fields}
    created: dict[str, Any] = standin.sim("PUT", "/midtrans/payments", body)
    return created


def _signature(body: dict[str, Any], key: str = MIDTRANS_KEY) -> str:
    message = body["order_id"] + body["status_code"] + body["gross_amount"] + key
    return hashlib.sha512(message.encode()).hexdigest()


def test_get_status_answers_the_flat_transaction_with_a_correct_signature_key(standin: StandIn) -> None:
    created = _transaction(standin, fraud_status="accept", payment_type="bank_transfer")

    by_order = _status(standin, "ORD-20250101-0001")
    by_id = _status(standin, created["transaction_id"])

    assert by_order.status_code == 200
    body = by_order.json()
    assert body == by_id.json()
    assert (body["status_code"], body["status_message"]) == ("200", "Success, transaction is found")
    assert (body["transaction_status"], body["fraud_status"], body["gross_amount"]) == (
        "settlement",
        "accept",
        "150000.00",
    )
    assert body["settlement_time"]
    assert body["signature_key"] == _signature(body)


@pytest.mark.parametrize(
    ("status", "fraud", "code"),
    [
        ("pending", None, "201"),
        ("capture", "challenge", "201"),
        ("capture", "accept", "200"),
        ("settlement", None, "200"),
        ("deny", None, "202"),
        ("cancel", None, "202"),
        ("expire", None, "407"),
        ("refund", None, "200"),
    ],
)
def test_the_status_code_follows_the_status(standin: StandIn, status: str, fraud: str | None, code: str) -> None:
    _transaction(standin, transaction_status=status, fraud_status=fraud)

    body = _status(standin, "ORD-20250101-0001").json()

    assert body["status_code"] == code
    assert body["signature_key"] == _signature(body)


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (midtrans_auth("SB-Mid-server-WRONG")["Authorization"], "wrong server key"),
        (midtrans_auth(PRODUCTION_KEY)["Authorization"], "the other environment's server key, on the sandbox API"),
        ("Basic " + "U0ItTWlkLXNlcnZlci1URVNULXBheWhvb2stMDAwMDp4", "must be the server key and an empty password"),
        ("Bearer " + MIDTRANS_KEY, "no Basic authorization"),
        (None, "no Basic authorization"),
    ],
)
def test_anything_but_basic_with_the_sandbox_server_key_is_401(
    standin: StandIn, authorization: str | None, reason: str
) -> None:
    _transaction(standin)
    headers = {"Authorization": authorization} if authorization else {}

    answer = standin.http.get("/midtrans/v2/ORD-20250101-0001/status", headers=headers)

    assert answer.status_code == 401
    assert answer.json()["status_code"] == "401"
    assert reason in standin.requests("midtrans")[-1]["auth_failure"]


def test_production_has_its_own_key_and_prefix(standin: StandIn) -> None:
    _transaction(standin)

    production = _status(standin, "ORD-20250101-0001", prefix="/midtrans-production", secret=PRODUCTION_KEY)
    sandbox_key = _status(standin, "ORD-20250101-0001", prefix="/midtrans-production")

    assert production.status_code == 200
    assert production.json()["signature_key"] == _signature(production.json(), PRODUCTION_KEY)
    assert sandbox_key.status_code == 401


def test_refunds_are_listed_with_their_running_total(standin: StandIn) -> None:
    created = _transaction(standin, payment_type="credit_card", transaction_status="capture", fraud_status="accept")
    standin.sim("PATCH", f"/midtrans/payments/{created['transaction_id']}", {"transaction_status": "settlement"})
    standin.sim(
        "PATCH",
        f"/midtrans/payments/{created['transaction_id']}",
        {"refunds": [{"refund_amount": "50000.00", "refund_key": "rk-1"}]},
    )

    partial = _status(standin, created["transaction_id"]).json()
    standin.sim(
        "PATCH",
        f"/midtrans/payments/{created['transaction_id']}",
        {
            "refunds": [
                {"refund_key": "rk-1", "bank_confirmed_at": "2025-01-02 09:01:00"},
                {"refund_amount": "100000.00"},
            ]
        },
    )
    full = _status(standin, created["transaction_id"]).json()

    assert (partial["transaction_status"], partial["refund_amount"]) == ("partial_refund", "50000.00")
    assert partial["refunds"][0]["refund_key"] == "rk-1"
    assert (full["transaction_status"], full["refund_amount"]) == ("refund", "150000.00")
    assert full["refunds"][0]["bank_confirmed_at"] == "2025-01-02 09:01:00"
    assert full["gross_amount"] == "150000.00"


def test_a_settled_payment_denied_later_keeps_its_settlement_time(standin: StandIn) -> None:
    created = _transaction(standin, payment_type="echannel")
    settled = _status(standin, created["transaction_id"]).json()

    standin.sim("PATCH", f"/midtrans/payments/{created['transaction_id']}", {"transaction_status": "deny"})
    reversed_ = _status(standin, created["transaction_id"]).json()

    assert (reversed_["transaction_status"], reversed_["status_code"]) == ("deny", "202")
    assert reversed_["settlement_time"] == settled["settlement_time"]
    assert reversed_["signature_key"] == _signature(reversed_)


def test_an_order_id_reused_answers_its_newest_transaction(standin: StandIn) -> None:
    _transaction(standin, transaction_status="expire")
    newest = _transaction(standin, transaction_status="pending")

    assert _status(standin, "ORD-20250101-0001").json()["transaction_id"] == newest["transaction_id"]
    b2b = standin.http.get("/midtrans/v2/ORD-20250101-0001/status/b2b", headers=midtrans_auth()).json()
    assert [t["transaction_status"] for t in b2b["transactions"]] == ["pending", "expire"]


def test_an_unknown_transaction_is_404_in_the_body_and_by_default_in_http(standin: StandIn) -> None:
    answer = _status(standin, "NOPE")

    assert answer.status_code == 404
    assert (answer.json()["status_code"], answer.json()["status_message"]) == ("404", "Transaction doesn't exist.")


def test_an_unknown_transaction_can_answer_http_200_when_so_configured() -> None:
    with serve_standin({"PAYHOOK_SIMULATE_MIDTRANS_NOT_FOUND_STATUS": "200"}) as running:
        answer = httpx.get(f"{running.url}/midtrans/v2/NOPE/status", headers=midtrans_auth())

    assert answer.status_code == 200
    assert answer.json()["status_code"] == "404"


def test_a_deleted_transaction_becomes_unknown(standin: StandIn) -> None:
    created = _transaction(standin)

    standin.sim("DELETE", f"/midtrans/payments/{created['transaction_id']}")

    assert _status(standin, created["transaction_id"]).status_code == 404
    assert standin.http.get(f"/_sim/midtrans/payments/{created['transaction_id']}").status_code == 404
