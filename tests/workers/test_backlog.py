"""Queue figures that stay true: after an AOF rewrite, more traffic and a Redis restart, an empty queue is
reported empty, and nothing keeps ringing for work that is not there."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from shared.backlog import queue_stats
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.support.pipeline import append, drain_all, pivot_event
from tests.support.redis_server import PrivateRedis
from workers.maintenance import needs_drain

pytestmark = pytest.mark.integration


def _send(settings: Settings, first: int, count: int) -> None:
    with PrivateRedis.client_for(settings.redis_url) as redis:
        for i in range(first, first + count):
            body = pivot_event("PAYMENT.PAID", f"s-{i}", f"o-{i}", "PAID")
            append(redis, QueueKeys(settings.queue_prefix), QueuedCallback("pivot", body, {}, 1.0))


def test_an_empty_queue_is_reported_empty_after_a_rewrite_and_a_restart(settings: Settings, tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        private = dataclasses.replace(settings, redis_url=server.url)
        keys = QueueKeys(settings.queue_prefix)
        _send(private, 0, 500)
        drain_all(private)
        with server.client() as redis:
            redis.bgrewriteaof()
            time.sleep(1)
        _send(private, 500, 500)
        drain_all(private)
        server.restart()
        with server.client() as redis:
            stats = queue_stats(redis, keys)
            assert (stats.queued, stats.in_flight) == (0, 0), stats
            assert stats.oldest_waiting_seconds is None
            assert not needs_drain(redis, keys, int(settings.claim_timeout_seconds * 1000))
            # Acknowledged entries are gone from the stream, not kept until a trim.
            assert redis.xlen(keys.stream) == 0
    finally:
        server.stop()
