"""Reconciliation by hand, through the ``payhook`` command against the providers' stand-in: ask about one
payment (and apply, or only show), expect payments the merchant created, list what stays unresolved, put a
filter's payments in line; each change in the audit trail."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.ops.cli import main
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import sample
from tests.support.pipeline import drain_all, payment, pivot_event, post, rows, scalar
from tests.support.standin import StandIn, api_settings
from workers.context import WorkerContext
from workers.reconcile import ReconcileLoop

pytestmark = pytest.mark.integration


@pytest.fixture
def env(settings: Settings, standin: StandIn) -> dict[str, str]:
    return env_for(settings.queue_prefix, PAYHOOK_RECONCILE_SCHEDULE="0.1,0.1", **api_settings(standin.url))


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def _processing(env: dict[str, str], session: str, ref: str) -> None:
    settings = Settings.from_env(env)
    from ingest.server import create_app

    with TestClient(create_app(settings, ring=False)) as web:
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", session, ref, "PROCESSING"))
    drain_all(settings)


def _loop(env: dict[str, str]) -> dict[str, int]:
    time.sleep(0.15)
    ctx = WorkerContext(settings=Settings.from_env(env), pid=os.getpid())
    try:
        return dict(ReconcileLoop(ctx).run())
    finally:
        ctx.close()


def test_asking_by_hand_shows_the_provider_beside_payhook_and_applies_unless_dry_run(
    env: dict[str, str], standin: StandIn, engine: Engine
) -> None:
    _processing(env, "s-hand", "ORD-HAND")
    standin.sim(
        "PUT", "/pivot/payments", {"id": "s-hand", "clientReferenceId": "ORD-HAND", "amount": 10, "status": "PAID"}
    )
    dry = run(env, "reconcile", "pivot", "ORD-HAND", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    expected = {"provider_status": "PAID", "status": "paid", "previous_status": "processing", "result": "corrected"}
    assert json.loads(dry.stdout).items() >= {**expected, "dry_run": True}.items()
    assert payment(engine, "pivot", "ORD-HAND")["status"] == "processing"  # type: ignore[index]
    done = run(env, "reconcile", "pivot", "ORD-HAND", "--json", "--actor", "alice")
    assert json.loads(done.stdout).items() >= {**expected, "dry_run": False}.items()
    shown = json.loads(run(env, "payments", "show", "pivot", "ORD-HAND", "--json").stdout)
    assert shown["status"] == "paid"
    assert [(e["status"], e["source"]) for e in shown["events"]] == [("processing", "callback"), ("paid", "api")]
    assert [(c["reason"], c["provider_status"], c["result"], c["actor"]) for c in shown["checks"]] == [
        ("manual", "PAID", "corrected", "alice")
    ]
    trail = [
        (r.actor, r.action, r.dry_run) for r in rows(engine, "SELECT actor, action, dry_run FROM audit_log ORDER BY id")
    ]
    assert trail == [(trail[0][0], "reconcile", True), ("alice", "reconcile", False)]
    again = json.loads(run(env, "reconcile", "pivot", "ORD-HAND", "--json").stdout)
    assert (again["result"], again["status"]) == ("unchanged", "paid")
    human = run(env, "reconcile", "pivot", "ORD-HAND")
    assert human.exit_code == 0 and "PAID" in human.stdout and "unchanged" in human.stdout


def test_a_provider_without_api_credentials_or_an_unknown_payment_is_refused_in_one_line(
    settings: Settings, env: dict[str, str]
) -> None:
    bare = env_for(settings.queue_prefix)
    refused = run(bare, "reconcile", "pivot", "ORD-X")
    assert refused.exit_code == 1
    assert refused.stderr.strip().startswith("payhook: pivot's status API is not configured (PAYHOOK_PIVOT_API_URL")
    unknown = run(env, "reconcile", "pivot", "ORD-NOBODY")
    assert (unknown.exit_code, unknown.stderr.count("\n")) == (1, 1)
    assert "no pivot payment 'ORD-NOBODY'" in unknown.stderr


def test_an_expected_payment_whose_every_callback_was_lost_is_found(
    env: dict[str, str], standin: StandIn, engine: Engine
) -> None:
    no_id = run(env, "payments", "expect", "pivot", "ORD-E1")
    assert no_id.exit_code == 1 and "payment session id" in no_id.stderr
    made = run(
        env,
        "payments",
        "expect",
        "pivot",
        "ORD-E1",
        "--payment-id",
        "s-e1",
        "--amount",
        "150000",
        "--currency",
        "idr",
        "--json",
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout) == {
        "provider": "pivot", "order_ref": "ORD-E1", "payment_key": "s-e1", "status": "pending", "created": True,
        "account": "default",
    }  # fmt: skip
    again = run(env, "payments", "expect", "pivot", "ORD-E1", "--payment-id", "s-e1")
    assert again.exit_code == 0 and "already known, nothing changed" in again.stdout
    settled: dict[str, Any] = json.loads(sample("midtrans.bank_transfer_settlement"))
    assert run(env, "payments", "expect", "midtrans", settled["order_id"]).exit_code == 0  # no transaction id yet
    standin.sim(
        "PUT", "/pivot/payments", {"id": "s-e1", "clientReferenceId": "ORD-E1", "amount": 150000, "status": "PAID"}
    )
    standin.sim(
        "PUT", "/midtrans/payments",
        {"transaction_id": settled["transaction_id"], "order_id": settled["order_id"],
         "gross_amount": settled["gross_amount"], "transaction_status": "settlement"},
    )  # fmt: skip
    assert _loop(env) == {"corrected": 2}
    pivot_paid = payment(engine, "pivot", "ORD-E1")
    assert pivot_paid is not None and (pivot_paid["status"], pivot_paid["amount"]) == ("paid", "150000")
    midtrans_paid = payment(engine, "midtrans", settled["order_id"])
    assert midtrans_paid is not None and midtrans_paid["status"] == "paid"
    assert midtrans_paid["payment_key"] == settled["transaction_id"]  # the answer's transaction took it over
    assert scalar(engine, "SELECT count(*) FROM payments") == 2
    assert {r.action for r in rows(engine, "SELECT action FROM audit_log")} == {"expect"}


def test_what_stays_unresolved_is_listed_and_all_of_a_filter_can_be_put_in_line(
    env: dict[str, str], standin: StandIn, engine: Engine
) -> None:
    _processing(env, "s-u", "ORD-U")
    for _ in range(2):
        _loop(env)
    assert scalar(engine, "SELECT unresolved_at IS NOT NULL FROM payments") is True
    listed = json.loads(run(env, "payments", "unresolved", "--json").stdout)
    assert [(p["order_ref"], p["status"], p["last_check"]["result"]) for p in listed] == [
        ("ORD-U", "processing", "not_found")
    ]
    assert "ORD-U" in run(env, "payments", "unresolved").stdout
    standin.sim("PUT", "/pivot/payments", {"id": "s-u", "clientReferenceId": "ORD-U", "amount": 1, "status": "EXPIRED"})
    bulk = run(env, "reconcile", "--all", "--provider", "pivot", "--status", "processing", "--json")
    queued = json.loads(bulk.stdout)
    assert (queued["kind"], queued["status"], queued["total"], queued["changed"]) == ("reconcile", "done", 1, 1)
    assert queued["filters"] == {"providers": ["pivot"], "status": "processing"}
    assert _loop(env) == {"corrected": 1}
    jobs = json.loads(run(env, "jobs", "list", "--json").stdout)
    assert [(j["id"], j["kind"]) for j in jobs] == [(queued["id"], "reconcile")]
    audited = rows(engine, "SELECT action, outcome FROM audit_log WHERE action = 'reconcile_all' ORDER BY id")
    assert [r.outcome for r in audited] == [f"started job {queued['id']}", f"job {queued['id']} done: queued 1 of 1"]
    assert json.loads(run(env, "payments", "unresolved", "--json").stdout) == []
    assert payment(engine, "pivot", "ORD-U")["status"] == "expired"  # type: ignore[index]


def test_the_admin_api_expects_asks_and_lists_like_the_command_line(
    env: dict[str, str], standin: StandIn, engine: Engine
) -> None:
    from ingest.server import create_app

    settings = Settings.from_env({**env, "PAYHOOK_ADMIN_TOKENS": "bob:t0ken-bob"})
    auth = {"Authorization": "Bearer t0ken-bob"}
    with TestClient(create_app(settings, ring=False)) as web:
        body = {
            "provider": "pivot",
            "order_ref": "ORD-API",
            "provider_payment_id": "s-api",
            "amount": "10",
            "currency": "IDR",
        }
        assert web.post("/admin/payments/expected", json=body, headers=auth).status_code == 201
        assert web.post("/admin/payments/expected", json=body, headers=auth).status_code == 200
        bad = web.post("/admin/payments/expected", json={**body, "colour": "red"}, headers=auth)
        assert (bad.status_code, bad.json()["error"]) == (400, "bad_request") and "colour" in bad.json()["message"]
        missing = web.post("/admin/payments/expected", json={"provider": "pivot", "order_ref": "X"}, headers=auth)
        assert missing.status_code == 422 and "payment session id" in missing.json()["message"]
        standin.sim(
            "PUT", "/pivot/payments", {"id": "s-api", "clientReferenceId": "ORD-API", "amount": 10, "status": "PAID"}
        )
        dry = web.post("/admin/payments/pivot/ORD-API/reconcile?dry_run=true", headers=auth).json()
        assert (dry["result"], dry["status"], dry["dry_run"]) == ("corrected", "paid", True)
        done = web.post("/admin/payments/pivot/ORD-API/reconcile", headers=auth).json()
        assert (done["provider_status"], done["previous_status"], done["status"], done["result"]) == (
            "PAID", "pending", "paid", "corrected"
        )  # fmt: skip
        assert web.get("/admin/payments/unresolved", headers=auth).json() == []
        assert web.post("/admin/payments/pivot/ORD-API/reconcile").status_code == 401
    assert [tuple(r) for r in rows(engine, "SELECT actor, action, dry_run FROM audit_log ORDER BY id")] == [
        ("bob", "expect", False), ("bob", "expect", False), ("bob", "expect", False), ("bob", "reconcile", True),
        ("bob", "reconcile", False),
    ]  # fmt: skip
