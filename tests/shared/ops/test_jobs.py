"""Bulk actions as background jobs: progress, idempotent starts, cancelling, resuming, workers running them."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from shared.db import dead_letters as dlq
from shared.ops.cli import main
from shared.ops.service import OperatorService
from shared.queue import QueuedCallback
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.admin import AUTH, admin_client
from tests.support.net import free_port
from tests.support.pipeline import rows, scalar
from tests.support.processes import Stack, wait_for
from workers.context import WorkerContext

pytestmark = pytest.mark.integration


def cli(settings: Settings, *args: str, **env: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix, **env))


def _letters(settings: Settings, n: int, reason: str = "crashed_worker") -> None:
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    now = datetime.now(UTC).timestamp()
    try:
        with ctx.sessions.begin() as session:
            dlq.record(
                session,
                [
                    dlq.Rejected(f"8-{reason}-{i}", QueuedCallback("pivot", b"{broken %d" % i, {}, now), reason, "test")
                    for i in range(n)
                ],
                ctx.sealer,
            )
    finally:
        ctx.close()


def test_the_cli_runs_a_bulk_replay_as_a_job_with_progress_and_an_audit_trail(
    settings: Settings, engine: Engine
) -> None:
    _letters(settings, 450)
    _letters(settings, 3, reason="invalid_json")
    result = cli(settings, "dlq", "replay", "--all", "--reason", "crashed_worker", "--actor", "oncall")
    assert result.exit_code == 0, result.output
    assert "done: replayed 450 of 450" in result.stdout
    assert scalar(engine, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL") == 450
    [job] = rows(engine, "SELECT status, total, processed, changed, actor FROM operator_jobs")
    assert tuple(job) == ("done", 450, 450, 450, "oncall")
    audit = rows(engine, "SELECT actor, action, count, outcome FROM audit_log ORDER BY id")
    assert [(a.actor, a.action, a.count) for a in audit] == [("oncall", "dlq.replay", 450)] * 2
    assert audit[0].outcome == "started job 1" and audit[1].outcome == "job 1 done: replayed 450 of 450"
    purged = cli(settings, "dlq", "purge", "--all", "--reason", "invalid_json", "--json", "--yes")
    assert purged.exit_code == 0 and json.loads(purged.stdout)["changed"] == 3


def test_starting_twice_finds_the_same_job_and_cancelling_stops_it(settings: Settings, engine: Engine) -> None:
    _letters(settings, 300)
    slow = Settings.from_env(env_for(settings.queue_prefix, PAYHOOK_BULK_RATE="200"))
    ops = OperatorService(slow, pool_size=2)
    try:
        job, created = ops.start_job("replay", dlq.Filters(reason="crashed_worker"), actor="a", background=False)
        again, created_again = ops.start_job(
            "replay", dlq.Filters(reason="crashed_worker"), actor="b", background=False
        )
        assert created and not created_again and again["id"] == job["id"]
        other, _ = ops.start_job("replay", dlq.Filters(reason="invalid_json"), actor="a", background=False)
        assert other["id"] != job["id"]
        runner = threading.Thread(target=ops.run_job, args=(job["id"],))
        runner.start()
        wait_for(lambda: (ops.job(job["id"]) or {}).get("processed", 0) >= 200, 30, "the first chunk")
        assert ops.cancel_job(job["id"], actor="c")["cancel_requested"]  # type: ignore[index]
        runner.join(30)
        final = ops.job(job["id"])
        assert final is not None and final["status"] == "cancelled" and final["processed"] < 300
        marked = scalar(engine, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL")
        assert marked == final["changed"]
        # A new job for the same filter may start now: the first one is over. It does what is left.
        rest, created = ops.start_job("replay", dlq.Filters(reason="crashed_worker"), actor="a", background=False)
        assert created and rest["total"] == 300 - marked
        assert ops.run_job(rest["id"]) == "done"
    finally:
        ops.close()


def test_a_job_whose_runner_died_is_taken_over_where_it_stopped(settings: Settings, engine: Engine) -> None:
    _letters(settings, 250)
    ops = OperatorService(settings, pool_size=1)
    try:
        job, _ = ops.start_job("replay", dlq.Filters(), actor="a", background=False)
        # Its runner did one chunk, then died: the heartbeat is old.
        first = [r.id for r in rows(engine, "SELECT id FROM dead_letters ORDER BY id LIMIT 200")]
        with ops.session() as session:
            ops.replay_chunk(session, first)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE operator_jobs SET status = 'running', runner = 'dead', processed = 200, changed = 200, "
                f"last_id = {first[-1]}, heartbeat_at = now() - interval '1 hour'"
            )
        assert ops.runner.stale() == [job["id"]]
        assert ops.run_job(job["id"]) == "done"
        final = ops.job(job["id"])
        assert final is not None and (final["processed"], final["changed"]) == (250, 250)
    finally:
        ops.close()


def test_a_worker_runs_a_job_started_over_the_admin_api(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    _letters(settings, 120)
    stack = Stack(env_for(settings.queue_prefix), free_port(), tmp_path)
    try:
        stack.worker()
        with admin_client(settings) as admin:
            started = admin.post("/admin/dead-letters/replay", params={"background": "true"}, headers=AUTH)
            assert started.status_code == 202, started.text
            job_id = started.json()["job"]["id"]
            again = admin.post("/admin/dead-letters/replay", params={"background": "true"}, headers=AUTH)
            assert again.json()["job"]["id"] == job_id and again.json()["created"] is False

            def done() -> bool:
                return bool(admin.get(f"/admin/jobs/{job_id}", headers=AUTH).json()["status"] == "done")

            wait_for(done, 60, "the worker to run the job")
            assert admin.get("/admin/jobs", headers=AUTH).json()["items"][0]["changed"] == 120
            assert admin.post("/admin/jobs/999/cancel", headers=AUTH).status_code == 404
    finally:
        stack.stop()
    assert scalar(engine, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL") == 120  # failed again


def test_a_job_hands_back_at_its_budget_and_a_runner_taken_over_stops(settings: Settings, engine: Engine) -> None:
    _letters(settings, 450)
    slow = Settings.from_env(env_for(settings.queue_prefix, PAYHOOK_BULK_RATE="400"))
    ops = OperatorService(slow, pool_size=2)
    try:
        job, _ = ops.start_job("replay", dlq.Filters(), actor="a", background=False)
        # The budget spent after the first chunk: handed back, queued, for the next runner.
        assert ops.run_job(job["id"], budget_seconds=0.01) == "running"
        assert rows(engine, "SELECT status, runner, processed FROM operator_jobs")[0] == ("queued", None, 200)
        # A runner that was thought dead (taken over) stops at its next step instead of doing the work twice.
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE operator_jobs SET status = 'running', runner = 'someone-else'")
        assert ops.runner.run(job["id"], acts={"replay": ops.replay_chunk, "purge": ops.purge_chunk}) == "held"
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE operator_jobs SET status = 'queued', runner = NULL")
        assert ops.run_job(job["id"]) == "done"
        final = ops.job(job["id"])
        assert final is not None and (final["processed"], final["changed"]) == (450, 450)
        assert scalar(engine, "SELECT count(*) FROM dead_letters WHERE replay_count > 1") == 0
    finally:
        ops.close()


def test_a_job_whose_chunks_keep_failing_fails_with_its_error(settings: Settings, engine: Engine) -> None:
    _letters(settings, 10)
    ops = OperatorService(settings, pool_size=1)
    try:
        job, _ = ops.start_job("purge", dlq.Filters(), actor="a", background=False)

        def broken(session: Any, ids: list[int]) -> int:
            raise RuntimeError("the chunk cannot be done")

        assert ops.runner.run(job["id"], acts={"replay": broken, "purge": broken}) == "failed"
        final = ops.job(job["id"])
        assert final is not None and final["status"] == "failed"
        assert final["error"] == "RuntimeError: the chunk cannot be done"
        assert scalar(engine, "SELECT count(*) FROM dead_letters") == 10
        assert "job 1 failed" in rows(engine, "SELECT outcome FROM audit_log ORDER BY id DESC LIMIT 1")[0].outcome
    finally:
        ops.close()
