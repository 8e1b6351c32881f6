"""The Celery app of the ``worker`` and ``beat`` processes: ``celery -A workers.app worker``."""

from __future__ import annotations

import os
import sys
import tempfile
import threading

# The pool's metrics go through files (``workers.metrics``): their folder must be set before prometheus-client
# is first imported, and be this worker's own.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ and "prometheus_client" not in sys.modules:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="payhook-worker-metrics-")

import contextlib
import logging
import signal
from types import FrameType
from typing import Any, ClassVar

from billiard.process import current_process
from celery import bootsteps
from celery.signals import worker_init, worker_process_shutdown
from redis.exceptions import RedisError

from shared import logs
from shared.celery_app import DELIVER_TASK, DRAIN_TASK, JOB_TASK, RECONCILE_TASK, TICK_TASK, make_celery
from shared.settings import Settings
from workers import context, maintenance, metrics
from workers.delivery import handlers
from workers.delivery.loop import DeliveryLoop
from workers.drain import Drain
from workers.reconcile import ReconcileLoop

log = logging.getLogger(__name__)

settings = Settings.from_env()
logs.configure(settings.log_format, settings.log_level)
app = make_celery(settings)
app.conf.worker_consumer = "workers.consumer:QuickReconnectConsumer"
app.conf.beat_schedule = {
    # A backstop: every worker runs the tick itself (TickStep below).
    "payhook-tick": {"task": TICK_TASK, "schedule": 1.0, "options": {"expires": 2.0}},
}
TICK_SECONDS = 1.0


@app.task(name=DRAIN_TASK, ignore_result=True)
def drain(slot: int = 0) -> dict[str, Any]:
    _stop_gracefully()
    report = Drain(context.current(settings, app)).run(slot)
    return {
        "outcomes": {str(k): v for k, v in report.outcomes.items()},
        "dead_lettered": report.dead_lettered,
        "ignored": report.ignored,
    }


@app.task(name=DELIVER_TASK, ignore_result=True)
def deliver(slot: int = 0) -> dict[str, int]:
    _stop_gracefully()
    return dict(DeliveryLoop(context.current(settings, app)).run(slot))


@app.task(name=RECONCILE_TASK, ignore_result=True)
def reconcile(slot: int = 0) -> dict[str, int]:
    """Queries of the providers' status APIs, for a drain budget at a time (the tick rings it again)."""
    _stop_gracefully()
    return dict(ReconcileLoop(context.current(settings, app)).run())


@app.task(name=JOB_TASK, ignore_result=True)
def run_job(job_id: int) -> str:
    """A bulk replay or purge, for a drain budget at a time: then handed back to a fresh task. A replay that
    meets a live backlog hands the job back at once; the tick resumes it in ten seconds."""
    _stop_gracefully()
    ops = context.current(settings, app).operator_service
    status = ops.run_job(job_id, budget_seconds=settings.drain_budget_seconds, yield_to_traffic=True)
    if status == "running":
        ops.send_job(job_id)
    return status


@app.task(name=TICK_TASK, ignore_result=True)
def tick() -> None:
    maintenance.tick(context.current(settings, app))


class TickStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """The tick in every worker's main process, in a thread of its own (its Redis and PostgreSQL calls may
    wait; Celery's consumer must not): with beat down, a crashed peer's entries are still reclaimed, the spool
    still moved and the stream still trimmed. Started after the pool has forked."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Pool"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        self.stopping = threading.Event()

    def start(self, worker: Any) -> None:
        threading.Thread(target=self._run, name="payhook-tick", daemon=True).start()

    def stop(self, worker: Any) -> None:
        self.stopping.set()

    def _run(self) -> None:
        while not self.stopping.wait(TICK_SECONDS):
            try:
                ctx = context.current(settings, app)
                with contextlib.suppress(Exception):  # Redis away: the tick's own steps say so
                    maintenance.heartbeat(ctx)
                maintenance.tick(ctx)
            except Exception as exc:  # the thread must keep ticking whatever one round meets
                log.warning("tick failed: %s", type(exc).__name__)


app.steps["worker"].add(TickStep)


def _stop_gracefully() -> None:
    """SIGTERM to the whole process group (Kubernetes, Heroku, ``kill -TERM -PGID``) reaches the pool's
    children too, which billiard would end mid-batch. In a child, the first SIGTERM only asks the drain to
    finish (commit or hand back) the batch in hand; the main process's warm shutdown waits for it, and a
    second SIGTERM ends the child as before. Installed when a child runs its first task: billiard resets
    signal handlers after ``worker_process_init``."""
    if context.STOPPING_HANDLER_INSTALLED.is_set() or current_process().name == "MainProcess":
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if context.STOPPING.is_set() and callable(previous):
            previous(signum, frame)
            return
        context.STOPPING.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    context.STOPPING_HANDLER_INSTALLED.set()


@worker_init.connect
def _serve_metrics(**_: Any) -> None:
    metrics.serve(settings.worker_metrics_port, settings.worker_metrics_host)


@worker_init.connect
def _register_handlers(**_: Any) -> None:
    """The Python handlers installed here become consumers of the events written from now on."""
    names = sorted(handlers.installed())
    if not names:
        return
    ctx = context.WorkerContext(settings=settings, pid=os.getpid())
    try:
        with ctx.sessions.begin() as session:
            handlers.register(session, names)
        log.info("handlers registered: %s", ", ".join(names))
    except Exception as exc:  # the database may be down at start: the next worker start registers them
        log.warning("could not register handlers %s: %s", ", ".join(names), type(exc).__name__)
    finally:
        ctx.close()


@worker_process_shutdown.connect
def _close(**_: Any) -> None:
    """Leave the consumer group (when nothing is pending) and close the connections."""
    metrics.forget(os.getpid())
    ctx = context.current(settings, app)
    try:
        if "consumer" in ctx.__dict__:
            maintenance.forget_consumer(ctx.redis, ctx.keys, ctx.consumer)
    except RedisError:
        pass  # the tick of another worker forgets it later
    ctx.close()
