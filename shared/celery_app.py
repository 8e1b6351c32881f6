"""The Celery app both sides share: the receiver only publishes drain messages by name, workers run them."""

from __future__ import annotations

from celery import Celery

from shared.settings import Settings


def make_celery(settings: Settings) -> Celery:
    app = Celery("payhook", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        # One queue per deployment prefix: test runs and a developer's stack never take each other's tasks.
        task_default_queue=settings.queue_prefix,
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
