"""Drains and delivery loops go to queues of their own, each message to exactly one of them: a worker started
with ``-Q <prefix>.deliveries`` runs delivery loops only, and nothing is run twice."""

from __future__ import annotations

import pytest
from redis import Redis

from shared.celery_app import DELIVER_TASK, DRAIN_TASK, JOB_TASK, deliveries_queue, make_celery
from shared.settings import Settings

pytestmark = pytest.mark.integration


def test_each_task_lands_in_one_queue_once(settings: Settings, redis: Redis) -> None:
    app = make_celery(settings)
    for name in (DRAIN_TASK, DELIVER_TASK, JOB_TASK, DELIVER_TASK):
        app.send_task(name, kwargs={"slot": 0} if name != JOB_TASK else {"job_id": 1})
    # kombu's Redis transport keeps each queue as a list named after it.
    assert redis.llen(settings.queue_prefix) == 2
    assert redis.llen(deliveries_queue(settings)) == 2
    redis.delete(settings.queue_prefix, deliveries_queue(settings))
