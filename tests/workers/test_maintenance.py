"""Workers keep the queue going on their own: with beat down a crashed peer's entries are reclaimed and the
stream is emptied; consumer names do not pile up; a Redis at its maxmemory drains; the broker reconnects
quickly."""

from __future__ import annotations

import dataclasses
import signal
import time
from pathlib import Path
from typing import Any, cast

import pytest
from redis import Redis
from redis.exceptions import OutOfMemoryError
from sqlalchemy import Engine

from shared.celery_app import make_celery
from shared.doorbell import Doorbell
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.net import free_port
from tests.support.pipeline import append, drain_all, pivot_event, scalar
from tests.support.processes import Stack, wait_for
from tests.support.redis_server import PrivateRedis
from workers.consumer import RECONNECT, QuickReconnectConsumer

pytestmark = pytest.mark.integration


def _events(engine: Engine) -> int:
    return int(scalar(engine, "SELECT count(*) FROM payment_events"))


def test_without_beat_a_crashed_workers_entries_are_recovered_and_the_stream_emptied(
    settings: Settings, redis: Redis, engine: Engine, tmp_path: Path
) -> None:
    total = 6000
    keys = QueueKeys(settings.queue_prefix)
    doorbell = Doorbell(keys, redis=redis, celery=make_celery(settings))
    for i in range(total):
        body = pivot_event("PAYMENT.PAID", f"sess-{i}", f"order-{i}", "PAID")
        append(redis, keys, QueuedCallback("pivot", body, {}, time.time()), doorbell=doorbell)
    stack = Stack(env_for(settings.queue_prefix, PAYHOOK_BATCH_SIZE="200"), free_port(), tmp_path)
    try:
        victim = stack.worker(concurrency=1)  # no beat anywhere in this test
        wait_for(lambda: _events(engine) > 0, 60, "a first batch")
        Stack.kill(victim)  # SIGKILL: its entries stay pending, its consumer stays in the group
        assert _events(engine) < total
        stack.worker(concurrency=1)
        # Nothing new arrives: only the worker's own tick can ring for the entries left behind.
        wait_for(lambda: _events(engine) == total, 90, "every entry after the crash")
        assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'applied'") == total
        wait_for(lambda: redis.xlen(keys.stream) == 0, 30, "an empty stream")
        # The dead worker's consumer (nothing pending any more) is forgotten within two claim timeouts.
        wait_for(lambda: len(cast(Any, redis.xinfo_consumers(keys.stream, keys.group))) <= 1, 30, "one consumer left")
    finally:
        stack.stop()
    # The last worker left the group when it stopped.
    assert cast(Any, redis.xinfo_consumers(keys.stream, keys.group)) == []


def _fill(redis: Redis, keys: QueueKeys) -> int:
    """Append callbacks (the backlog of a PostgreSQL outage) until Redis refuses more; how many it took."""
    sent = 0
    while True:
        body = pivot_event("PAYMENT.PAID", f"s-{sent}", f"o-{sent}", "PAID") + b" " * 2000
        try:
            append(redis, keys, QueuedCallback("pivot", body, {}, time.time()))
        except OutOfMemoryError:
            return sent
        sent += 1


def test_a_redis_at_its_maxmemory_drains_and_frees_its_memory(settings: Settings, tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "redis", maxmemory="4mb").start()
    try:
        private = dataclasses.replace(settings, redis_url=server.url)
        keys = QueueKeys(settings.queue_prefix)
        with server.client() as redis:
            redis.xgroup_create(keys.stream, keys.group, id="0", mkstream=True)  # workers ran before the outage
            sent = _fill(redis, keys)
            report = drain_all(private)
            assert sum(report.outcomes.values()) == sent
            assert redis.xlen(keys.stream) == 0
            assert redis.set("payhook-test-room", b"1"), "the memory was freed: writes work again"
    finally:
        server.stop(signal.SIGKILL)


def test_the_broker_connection_is_retried_at_once_and_never_more_than_two_seconds_apart() -> None:
    seen: dict[str, Any] = {}

    class Connection:
        def ensure_connection(self, *args: Any, **kwargs: Any) -> Connection:
            seen.update(kwargs)
            return self

    consumer = QuickReconnectConsumer.__new__(QuickReconnectConsumer)
    consumer.app = make_celery(Settings.from_env({}))
    consumer.first_connection_attempt = False
    consumer.broker_connection_retry_attempt = 0
    consumer.ensure_connected(Connection())
    assert seen["interval_start"] == 0 and seen["interval_max"] <= 2
    assert RECONNECT["interval_max"] <= 2
    app_module = __import__("workers.app", fromlist=["app"])
    assert app_module.app.conf.worker_consumer == "workers.consumer:QuickReconnectConsumer"
