"""The Celery app of the ``worker`` and ``beat`` processes: ``celery -A workers.app worker``."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_shutdown

from shared.celery_app import make_celery
from shared.doorbell import DRAIN_TASK, TICK_TASK
from shared.settings import Settings
from workers import context, maintenance
from workers.drain import Drain, ensure_group

log = logging.getLogger(__name__)

settings = Settings.from_env()
app = make_celery(settings)
app.conf.beat_schedule = {
    # Backstop for a doorbell that was lost (a crashed drain, a failed publish) and for reclaiming.
    "payhook-tick": {"task": TICK_TASK, "schedule": 1.0, "options": {"expires": 2.0}},
}


@app.task(name=DRAIN_TASK, ignore_result=True)
def drain(slot: int = 0) -> dict[str, Any]:
    report = Drain(context.current(settings, app)).run(slot)
    return {
        "outcomes": {str(k): v for k, v in report.outcomes.items()},
        "dead_lettered": report.dead_lettered,
        "ignored": report.ignored,
    }


@app.task(name=TICK_TASK, ignore_result=True)
def tick() -> None:
    ctx = context.current(settings, app)
    ensure_group(ctx)
    maintenance.ring_if_needed(ctx.doorbell, int(settings.claim_timeout_seconds * 1000))
    maintenance.trim(ctx.redis, ctx.keys)
    maintenance.forget_idle_consumers(ctx.redis, ctx.keys)


@worker_process_shutdown.connect
def _close(**_: Any) -> None:
    context.current(settings, app).close()
