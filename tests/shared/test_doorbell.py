"""Doorbells on the real Redis: taken by one caller only, held and released, expiring on their own; ringing
publishes one message per slot to the right task, and a broker that refuses never raises. The broker is a
recorder of the messages sent (no Celery needed to see what would be published)."""

from __future__ import annotations

from typing import Any

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from shared.celery_app import DELIVER_TASK, DRAIN_TASK, RECONCILE_TASK
from shared.doorbell import Doorbell
from shared.queue import BELL_TTL_SECONDS, QueueKeys
from shared.settings import Settings

pytestmark = pytest.mark.integration


class Broker:
    def __init__(self, *, refuses: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.refuses = refuses

    def send_task(self, name: str, *, kwargs: dict[str, Any], retry: bool) -> None:
        if self.refuses:
            raise OSError("broker down")
        self.sent.append((name, kwargs))


def _bell(settings: Settings, redis: Redis, broker: Broker | None = None) -> Doorbell:
    return Doorbell(QueueKeys(settings.queue_prefix), redis=redis, celery=broker)


def test_a_doorbell_is_taken_once_until_released_and_expires_on_its_own(settings: Settings, redis: Redis) -> None:
    bell = _bell(settings, redis)
    assert bell.take(0) and not bell.take(0)
    assert bell.take(1)  # each slot has its own
    assert 0 < int(redis.ttl(bell.keys.drain_bell_key(0))) <= BELL_TTL_SECONDS
    bell.release(0)
    assert bell.take(0)


def test_ringing_publishes_to_each_bells_task_and_only_when_free(settings: Settings, redis: Redis) -> None:
    broker = Broker()
    bell = _bell(settings, redis, broker)
    assert bell.ring_if_free(2) and not bell.ring_if_free(2)
    assert bell.ring_deliveries() and not bell.ring_deliveries()
    assert bell.ring_reconcile()
    assert broker.sent == [(DRAIN_TASK, {"slot": 2}), (DELIVER_TASK, {"slot": 0}), (RECONCILE_TASK, {"slot": 0})]
    assert redis.exists(bell.keys.delivery_bell_key(0)) == 1


def test_a_failed_ring_never_raises(settings: Settings, redis: Redis) -> None:
    assert not _bell(settings, redis, Broker(refuses=True)).ring(0)
    assert not Doorbell(QueueKeys(settings.queue_prefix)).ring(0)  # the receiver's, without a broker
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    assert not _bell(settings, unreachable, Broker()).ring_deliveries()
    with pytest.raises(RedisConnectionError):
        _bell(settings, unreachable).take(0)
    with pytest.raises(RuntimeError):
        Doorbell(QueueKeys(settings.queue_prefix)).take(0)
