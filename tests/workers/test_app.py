"""The Celery app the ``worker`` and ``beat`` processes load (``celery -A workers.app``): its tasks under the
names the doorbells ring, the tick as a worker step and on beat's schedule, and a drain task that, called as
a worker calls it, applies what is queued. Imported in a child process with the test's settings (the module
reads them at import time), on the real PostgreSQL and Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import Engine

from shared.celery_app import DELIVER_TASK, DRAIN_TASK, JOB_TASK, RECONCILE_TASK, TICK_TASK
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.pipeline import append, pivot_event, scalar

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]

PROBE = """
import json
from workers import app
print(json.dumps({
    "tasks": sorted(name for name in app.app.tasks if name.startswith("payhook")),
    "beat": [entry["task"] for entry in app.app.conf.beat_schedule.values()],
    "steps": [step.__name__ for step in app.app.steps["worker"]],
    "consumer": app.app.conf.worker_consumer,
    "drained": app.drain(0)["outcomes"],
}))
"""


def test_the_tasks_the_tick_and_a_drain_as_a_worker_runs_it(settings: Settings, redis: Redis, engine: Engine) -> None:
    append(
        redis, QueueKeys(settings.queue_prefix), QueuedCallback("pivot", pivot_event("PAYMENT.PAID", "s", "o", "PAID"))
    )
    env = env_for(settings.queue_prefix, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {DRAIN_TASK, DELIVER_TASK, RECONCILE_TASK, JOB_TASK, TICK_TASK} <= set(found["tasks"])
    assert found["beat"] == [TICK_TASK] and "TickStep" in found["steps"]
    assert found["consumer"] == "workers.consumer:QuickReconnectConsumer"
    assert found["drained"] == {"applied": 1}
    assert scalar(engine, "SELECT status::text FROM payments") == "paid"
