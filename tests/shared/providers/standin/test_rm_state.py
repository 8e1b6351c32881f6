"""Revenue Monster's stand-in: the daily settlement report, over HTTP, with requests signed in the test from
the documented algorithm."""

from __future__ import annotations

from typing import Any

import httpx

from tests.shared.providers.standin.rm import (
    ORDER,
    call,
    error,
    payment,
)
from tests.support.standin import StandIn, serve_standin


def test_the_settlement_report_lists_a_day_s_payments_and_refunds_in_ringgit(standin: StandIn) -> None:
    created = payment(standin, transactionAt="2025-01-01T03:04:10Z")
    standin.sim(
        "PATCH",
        f"/revenue-monster/payments/{created['transactionId']}",
        {"balanceAmount": 1000, "refundedAt": "2025-01-02T09:00:00Z"},
    )
    token = standin.rm_tokens()["accessToken"]

    def report(kind: str, day: str) -> list[dict[str, Any]]:
        body = {"transactionType": kind, "date": day, "method": [], "region": [], "cursor": ""}
        items: list[dict[str, Any]] = call(standin, "POST", "/v3/payment/reconciliation", token, body).json()["items"]
        return items

    (sale,) = report("PAYMENT", "2025-01-01")
    (refund,) = report("REFUND", "2025-01-02")

    assert (sale["transactionId"], sale["orderId"]) == (created["transactionId"], ORDER)
    assert (sale["grossAmount"], sale["mdr"], sale["serviceFee"], sale["settlementAmount"]) == (
        "25.90",
        "0.70",
        "-0.18",
        "25.72",
    )
    assert (refund["transactionType"], refund["grossAmount"]) == ("REFUND", "15.90")
    assert report("REFUND", "2025-01-01") == []
    shown = standin.sim("GET", f"/revenue-monster/payments/{ORDER}")
    assert (shown["status"], shown["balanceAmount"]) == ("PARTIAL_REFUNDED", 1000)


def test_the_settlement_report_pages_by_cursor() -> None:
    with serve_standin({"PAYHOOK_SIMULATE_REVENUE_MONSTER_RECONCILIATION_PAGE_SIZE": "2"}) as running:
        standin = StandIn(running.url, httpx.Client(base_url=running.url))
        for n in range(5):
            payment(standin, orderId=f"O-{n}", transactionAt=f"2025-01-01T0{n}:00:00Z")
        token = standin.rm_tokens()["accessToken"]
        seen: list[list[str]] = []
        cursor = ""
        for _ in range(5):
            body = {"transactionType": "PAYMENT", "date": "2025-01-01", "method": ["TNG_MY"], "cursor": cursor}
            answer = call(standin, "POST", "/v3/payment/reconciliation", token, body).json()
            seen.append([item["orderId"] for item in answer["items"]])
            cursor = answer["meta"]["cursor"]
            if not cursor:
                break
        standin.http.close()

    assert seen == [["O-0", "O-1"], ["O-2", "O-3"], ["O-4"]]


def test_a_reconciliation_request_without_type_or_date_is_invalid(standin: StandIn) -> None:
    token = standin.rm_tokens()["accessToken"]

    answer = call(
        standin, "POST", "/v3/payment/reconciliation", token, {"transactionType": "PAYMENT", "date": "01/01/2025"}
    )

    assert (answer.status_code, error(answer)) == (400, "INVALID_PARAMETER")
