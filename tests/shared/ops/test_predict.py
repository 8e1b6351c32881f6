"""Dry runs that predict: each dead letter's outcome if replayed now, by the real normalizer and state machine,
changing nothing; then the replay does what was predicted."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.db import dead_letters as dlq
from shared.ops.cli import main
from shared.queue import QueuedCallback
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.admin import AUTH, admin_client
from tests.support.pipeline import drain_all, pivot_event, post, rows, scalar
from workers.context import WorkerContext

pytestmark = pytest.mark.integration


def _letter(ctx: WorkerContext, n: int, body: bytes, reason: str = "crashed_worker") -> None:
    callback = QueuedCallback("pivot", body, {}, datetime.now(UTC).timestamp() + n / 1000)
    with ctx.sessions.begin() as session:
        dlq.record(session, [dlq.Rejected(f"9-{n}", callback, reason, "set aside by the test")], ctx.sealer)


def cli(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix))


def _setup(settings: Settings, web: TestClient) -> None:
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-paid", "order-paid", "PAID"))
    drain_all(settings)
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        letters = [
            pivot_event("PAYMENT.PAID", "ps-paid", "order-paid", "PAID"),  # 1 duplicate: applied already
            pivot_event("PAYMENT.PROCESSING", "ps-paid", "order-paid", "PROCESSING"),  # 2 stale
            pivot_event("PAYMENT.CANCELLED", "ps-paid", "order-paid", "CANCELLED"),  # 3 conflict: paid stays
            b"{not json",  # 4 dead letter again
            pivot_event("PAYMENT.PROCESSING", "ps-new", "order-new", "PROCESSING"),  # 5 applied: processing
            pivot_event("PAYMENT.PAID", "ps-new", "order-new", "PAID"),  # 6 applied: paid, after 5
            pivot_event("PAYMENT.PAID", "ps-new", "order-new", "PAID"),  # 7 duplicate of 6
        ]
        for n, body in enumerate(letters):
            _letter(ctx, n, body)
    finally:
        ctx.close()


EXPECTED = [
    ("duplicate", None, "paid"),
    ("stale", None, "paid"),
    ("conflict", None, "paid"),
    ("dead_letter", "invalid_json", None),
    ("applied", None, "processing"),
    ("applied", None, "paid"),
    ("duplicate", None, "paid"),
]


def test_the_dry_run_predicts_each_letter_and_changes_nothing(
    settings: Settings, engine: Engine, web: TestClient
) -> None:
    _setup(settings, web)
    before = rows(engine, "SELECT id, replayed_at FROM dead_letters ORDER BY id")
    result = cli(settings, "dlq", "replay", "--all", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(x["predicted"], x["reason"], x["status"]) for x in report["letters"]] == EXPECTED
    assert report["summary"] == {"duplicate": 2, "stale": 1, "conflict": 1, "dead_letter": 1, "applied": 2}
    # Nothing changed: no letter marked, no event, no payment; only the audit trail knows a dry run happened.
    assert rows(engine, "SELECT id, replayed_at FROM dead_letters ORDER BY id") == before
    assert scalar(engine, "SELECT count(*) FROM payment_events") == 1
    assert scalar(engine, "SELECT count(*) FROM payments") == 1
    assert rows(engine, "SELECT action, dry_run, count FROM audit_log") == [("dlq.replay", True, 7)]
    text = cli(settings, "dlq", "replay", "--all", "--dry-run")
    assert "dry run, nothing changed: 2 applied, 1 conflict, 1 dead_letter, 2 duplicate, 1 stale" in text.stdout
    assert "new -> processing" in text.stdout and "invalid_json" in text.stdout


def test_the_replay_then_does_what_the_dry_run_predicted(settings: Settings, engine: Engine, web: TestClient) -> None:
    _setup(settings, web)
    predicted = json.loads(cli(settings, "dlq", "replay", "--all", "--dry-run", "--json").stdout)["summary"]
    assert cli(settings, "dlq", "replay", "--all").exit_code == 0
    drain_all(settings)
    outcomes = {
        r.outcome: r.n
        for r in rows(
            engine, "SELECT outcome, count(*) AS n FROM payment_events WHERE entry_id NOT LIKE '9-%' GROUP BY 1"
        )
    }
    outcomes["applied"] -= 1  # the payment paid before the letters
    new_letters = scalar(engine, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL")
    assert {**{k: v for k, v in outcomes.items() if v}, "dead_letter": new_letters} == predicted


def test_dry_run_over_the_admin_api_for_one_letter_and_a_filter(settings: Settings, web: TestClient) -> None:

    _setup(settings, web)
    with admin_client(settings) as admin:
        one = admin.post("/admin/dead-letters/5/replay", params={"dry_run": "true"}, headers=AUTH).json()
        assert [(x["id"], x["predicted"], x["status"]) for x in one["letters"]] == [(5, "applied", "processing")]
        assert admin.post("/admin/dead-letters/99/replay", params={"dry_run": "true"}, headers=AUTH).status_code == 404
        some = admin.post(
            "/admin/dead-letters/replay", params={"dry_run": "true", "reason": "crashed_worker"}, headers=AUTH
        )
        assert some.json()["summary"]["applied"] == 2 and len(some.json()["would_replay"]) == 7
