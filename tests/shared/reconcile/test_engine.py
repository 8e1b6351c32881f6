"""Reconciliation end to end in-process: callbacks through the real receiver and drains, the reconcile loop
asking the providers' stand-in over HTTP, answers applied to the real PostgreSQL like callbacks."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import sample, signed
from tests.support.pipeline import drain_all, payment, pivot_event, post, rows, scalar
from tests.support.standin import StandIn, api_settings
from workers.context import WorkerContext
from workers.reconcile import ReconcileLoop

pytestmark = pytest.mark.integration
# Fast enough for a test: three queries, a tenth of a second apart.
SCHEDULE = "0.1,0.1,0.1"


@pytest.fixture
def reconciled(settings: Settings, prefix: str, standin: StandIn) -> Settings:
    """The test's settings, with every provider's status API at the stand-in and a quick schedule."""
    env = env_for(
        prefix, PAYHOOK_RECONCILE_SCHEDULE=SCHEDULE, PAYHOOK_PROVIDER_API_RATE="50", **api_settings(standin.url)
    )
    return Settings.from_env(env)


def reconcile(settings: Settings, rounds: int = 1) -> dict[str, int]:
    """Run the reconcile loop ``rounds`` times, each once the schedule's delay has passed."""
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    seen: dict[str, int] = {}
    try:
        for _ in range(rounds):
            time.sleep(0.15)
            for result, count in ReconcileLoop(ctx).run().items():
                seen[result] = seen.get(result, 0) + count
    finally:
        ctx.close()
    return seen


def checks(engine: Engine, provider: str) -> list[Any]:
    return rows(
        engine,
        "SELECT c.reason, c.provider_status, c.result, c.status_before, c.status_after FROM payment_checks c"
        " JOIN payments p ON p.id = c.payment_id WHERE p.provider = :p ORDER BY c.id",
        p=provider,
    )


def test_a_payment_whose_paid_callback_was_lost_is_found_paid(
    reconciled: Settings, standin: StandIn, engine: Engine
) -> None:
    with TestClient(create_app(reconciled, ring=False)) as web:
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "s-lost", "ORD-LOST", "PROCESSING"))
    drain_all(reconciled)
    standin.sim(
        "PUT", "/pivot/payments", {"id": "s-lost", "clientReferenceId": "ORD-LOST", "amount": 150000, "status": "PAID"}
    )
    assert reconcile(reconciled) == {"corrected": 1}
    shown = payment(engine, "pivot", "ORD-LOST")
    assert shown is not None and shown["status"] == "paid"
    events = shown["events"]
    assert [(e["status"], e["outcome"]) for e in events] == [("processing", "applied"), ("paid", "applied")]
    assert [r.source for r in rows(engine, "SELECT source FROM payment_events ORDER BY id")] == ["callback", "api"]
    assert [tuple(c) for c in checks(engine, "pivot")] == [("schedule", "PAID", "corrected", "processing", "paid")]
    body = json.loads(rows(engine, "SELECT body FROM outbox_events ORDER BY id DESC LIMIT 1")[0].body)
    assert (body["type"], body["data"]["source"], body["data"]["previous_status"]) == (
        "payment.paid",
        "api",
        "processing",
    )
    assert scalar(engine, "SELECT next_check_at IS NULL FROM payments") is True


def test_an_api_that_keeps_failing_changes_nothing_and_the_payment_ends_unresolved(
    reconciled: Settings, standin: StandIn, engine: Engine
) -> None:
    with TestClient(create_app(reconciled, ring=False)) as web:
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "s-down", "ORD-DOWN", "PROCESSING"))
    drain_all(reconciled)
    standin.sim(
        "PUT", "/pivot/payments", {"id": "s-down", "clientReferenceId": "ORD-DOWN", "amount": 1, "status": "PAID"}
    )
    standin.sim("PUT", "/faults", {"provider": "pivot", "mode": "server_error"})
    assert reconcile(reconciled, rounds=4) == {"error": 3}
    assert [c.result for c in checks(engine, "pivot")] == ["error"] * 3
    shown = rows(engine, "SELECT status, unresolved_at IS NOT NULL AS unresolved, next_check_at FROM payments")[0]
    assert (shown.status, shown.unresolved, shown.next_check_at) == ("processing", True, None)
    with TestClient(create_app(reconciled, ring=False)) as web:
        assert "payhook_unresolved_payments 1.0" in web.get("/metrics").text
    standin.sim("DELETE", "/faults")
    with TestClient(create_app(reconciled, ring=False)) as web:  # a late callback takes it out of unresolved
        post(web, "pivot", pivot_event("PAYMENT.PAID", "s-down", "ORD-DOWN", "PAID"))
    drain_all(reconciled)
    shown = rows(engine, "SELECT status, unresolved_at IS NOT NULL AS unresolved FROM payments")[0]
    assert (shown.status, shown.unresolved) == ("paid", False)


def test_a_payment_the_provider_does_not_know_is_left_as_it_is(reconciled: Settings, engine: Engine) -> None:
    with TestClient(create_app(reconciled, ring=False)) as web:
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "s-unknown", "ORD-UNKNOWN", "PROCESSING"))
    drain_all(reconciled)
    assert reconcile(reconciled) == {"not_found": 1}
    assert [(c.provider_status, c.result) for c in checks(engine, "pivot")] == [("resource_missing", "not_found")]
    assert payment(engine, "pivot", "ORD-UNKNOWN")["status"] == "processing"  # type: ignore[index]


def test_revenue_monster_payments_are_asked_with_signed_requests(
    reconciled: Settings, standin: StandIn, engine: Engine
) -> None:
    doc = json.loads(sample("revenue-monster.payment_web_online"))
    doc["data"]["status"] = "IN_PROCESS"
    with TestClient(create_app(reconciled, ring=False)) as web:
        post(web, "revenue-monster", json.dumps(doc).encode())
    drain_all(reconciled)
    order = doc["data"]["order"]["id"]
    standin.sim(
        "PUT", "/revenue-monster/payments",
        {"orderId": order, "amount": doc["data"]["order"]["amount"], "status": "FULL_REFUNDED", "balanceAmount": 0},
    )  # fmt: skip
    assert reconcile(reconciled) == {"corrected": 1}
    shown = payment(engine, "revenue-monster", order)
    assert shown is not None and shown["status"] == "refunded"
    signed = [r for r in standin.requests("revenue-monster") if "/v3/" in r["path"]]
    assert signed and all(r["status"] == 200 for r in signed)


def _midtrans(name: str, **changes: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sample(f"midtrans.{name}"))
    doc.update(changes)
    return doc


def _standin_midtrans(standin: StandIn, doc: dict[str, Any], status: str) -> None:
    standin.sim(
        "PUT", "/midtrans/payments",
        {"transaction_id": doc["transaction_id"], "order_id": doc["order_id"], "gross_amount": doc["gross_amount"],
         "transaction_status": status, "settlement_time": "2025-03-14 10:41:37", "payment_type": "bank_transfer"},
    )  # fmt: skip


def test_a_midtrans_notification_is_applied_only_as_get_status_confirms_it(
    reconciled: Settings, standin: StandIn, engine: Engine
) -> None:
    settled = _midtrans("bank_transfer_settlement")
    with TestClient(create_app(reconciled, ring=False)) as web:
        post(web, "midtrans", json.dumps(settled).encode())
    drain_all(reconciled)
    waiting = payment(engine, "midtrans", settled["order_id"])
    assert waiting is not None and waiting["status"] == "pending"
    assert [(e["status"], e["outcome"]) for e in waiting["events"]] == [("paid", "unconfirmed")]
    _standin_midtrans(standin, settled, "settlement")
    assert reconcile(reconciled) == {"confirmed": 1}
    shown = payment(engine, "midtrans", settled["order_id"])
    assert shown is not None and shown["status"] == "paid"
    assert [c.reason for c in checks(engine, "midtrans")] == ["confirm"]


def test_an_edited_midtrans_copy_that_still_verifies_changes_nothing(
    reconciled: Settings, standin: StandIn, engine: Engine
) -> None:
    """The hostile review's genuine settlement, resent with transaction_status refund (both status_code 200):
    it verifies, waits for Get Status, which says settlement, and the payment stays paid."""
    settled = _midtrans("bank_transfer_settlement")
    _standin_midtrans(standin, settled, "settlement")
    with TestClient(create_app(reconciled, ring=False)) as web:
        post(web, "midtrans", json.dumps(settled).encode())
        drain_all(reconciled)
        reconcile(reconciled)
        edited = {**settled, "transaction_status": "refund", "refund_amount": "150000.00"}
        post(web, "midtrans", json.dumps(edited).encode())
        for status in ("deny", "expire"):  # these do not fit the signed status_code 200: refused
            sent, headers = signed("midtrans", json.dumps({**settled, "transaction_status": status}).encode())
            assert web.post("/callbacks/midtrans", content=sent, headers=headers).status_code == 401
    drain_all(reconciled)
    assert reconcile(reconciled) == {"unchanged": 1}
    shown = payment(engine, "midtrans", settled["order_id"])
    assert shown is not None and shown["status"] == "paid"
    assert [(e["status"], e["outcome"]) for e in shown["events"]] == [
        ("paid", "unconfirmed"), ("paid", "applied"), ("refunded", "unconfirmed")
    ]  # fmt: skip
    assert scalar(engine, "SELECT count(*) FROM outbox_events WHERE type = 'payment.refunded'") == 0


def test_a_reversal_get_status_reports_is_applied(reconciled: Settings, standin: StandIn, engine: Engine) -> None:
    settled = _midtrans("bank_transfer_settlement")
    _standin_midtrans(standin, settled, "settlement")
    with TestClient(create_app(reconciled, ring=False)) as web:
        post(web, "midtrans", json.dumps(settled).encode())
        drain_all(reconciled)
        reconcile(reconciled)
        standin.sim("PATCH", f"/midtrans/payments/{settled['transaction_id']}", {"transaction_status": "deny"})
        post(web, "midtrans", json.dumps({**settled, "transaction_status": "deny", "status_code": "202"}).encode())
    drain_all(reconciled)
    assert reconcile(reconciled) == {"confirmed": 1}
    shown = payment(engine, "midtrans", settled["order_id"])
    assert shown is not None and shown["status"] == "reversed"
