"""The Celery app both sides share: the receiver only publishes drain messages by name, workers run them."""

from __future__ import annotations

from celery import Celery

from shared.queue import CELERY_QUEUE
from shared.settings import Settings


def make_celery(settings: Settings) -> Celery:
    app = Celery("payhook", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=CELERY_QUEUE,
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
