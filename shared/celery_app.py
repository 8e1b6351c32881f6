"""The Celery app both sides share: the receiver only publishes drain messages by name, workers run them.

Three queues per deployment prefix: ``<prefix>`` for drains and the tick, ``<prefix>.deliveries`` for the
outbox's delivery loops, ``<prefix>.reconcile`` for the reconcile loop (queries of the providers' status APIs:
a provider that is slow or down holds nothing else). A worker started as the Procfile says consumes all three;
``-Q`` with some of them makes a worker of one kind, scaled and limited apart from the others.
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Exchange, Queue

from shared.settings import Settings

# Every task's name, here with the routes that send them to their queue: the receiver and operators publish
# them by name, the worker (``workers.app``) runs them.
DRAIN_TASK = "payhook.drain"
DELIVER_TASK = "payhook.deliver"
TICK_TASK = "payhook.tick"
# A bulk replay or purge (``shared.ops.jobs``).
JOB_TASK = "payhook.job"
RECONCILE_TASK = "payhook.reconcile"


def deliveries_queue(settings: Settings) -> str:
    return f"{settings.queue_prefix}.deliveries"


def reconcile_queue(settings: Settings) -> str:
    return f"{settings.queue_prefix}.reconcile"


def _queue(name: str) -> Queue:
    """A queue bound by its own name: two queues sharing the default binding would each get every message."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]


def make_celery(settings: Settings) -> Celery:
    app = Celery("payhook", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        # One queue per deployment prefix: test runs and a developer's stack never take each other's tasks.
        task_default_queue=settings.queue_prefix,
        task_queues=[
            _queue(settings.queue_prefix),
            _queue(deliveries_queue(settings)),
            _queue(reconcile_queue(settings)),
        ],
        task_routes={
            DELIVER_TASK: {"queue": deliveries_queue(settings)},
            RECONCILE_TASK: {"queue": reconcile_queue(settings)},
        },
        task_serializer="json",
        accept_content=["json"],
        # Drains are cheap to re-ring and idempotent by construction: ack on receipt, never redeliver.
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_connect_timeout": 1.0},
        worker_hijack_root_logger=False,
    )
    return app
