"""SIGTERM to a worker's whole process group: the batch in hand is committed or handed back, so another
worker goes on at once, not after the claim timeout, and nothing counts an extra delivery."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, cast

import pytest
from redis import Redis
from sqlalchemy import Engine

from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.net import free_port
from tests.support.pipeline import pivot_event, scalar
from tests.support.processes import Stack

pytestmark = pytest.mark.integration
CLAIM_TIMEOUT = 30


def test_sigterm_to_the_process_group_leaves_nothing_waiting_for_the_claim_timeout(
    settings: Settings, redis: Redis, engine: Engine, tmp_path: Path
) -> None:
    total = 8000
    keys = QueueKeys(settings.queue_prefix)
    with redis.pipeline(transaction=False) as pipe:
        for i in range(total):
            body = pivot_event("PAYMENT.PAID", f"sess-{i}", f"order-{i}", "PAID")
            pipe.xadd(keys.stream, cast(Any, QueuedCallback("pivot", body, {}, time.time()).encode()))
        pipe.execute()
    env = env_for(settings.queue_prefix, PAYHOOK_CLAIM_TIMEOUT_SECONDS=str(CLAIM_TIMEOUT), PAYHOOK_BATCH_SIZE="250")
    stack = Stack(env, free_port(), tmp_path)
    try:
        first = stack.worker(concurrency=2)
        stack.beat()

        def events() -> int:
            return int(scalar(engine, "SELECT count(*) FROM payment_events"))

        deadline = time.monotonic() + 60
        while events() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        Stack.kill(first, signal.SIGTERM)  # the whole group, as Kubernetes does
        at_stop = events()
        assert 0 < at_stop < total, "the SIGTERM must land mid-way"
        stopped = time.monotonic()
        stack.worker(concurrency=2)
        while events() < total and time.monotonic() < stopped + CLAIM_TIMEOUT:
            time.sleep(0.1)
        took = time.monotonic() - stopped
        assert events() == total, (
            f"{total - events()} entries still waiting {took:.0f} s after the SIGTERM; pending: "
            f"{redis.xpending(keys.stream, keys.group)}\n{stack.tail('worker')}"
        )
        assert took < CLAIM_TIMEOUT / 2, f"the rest took {took:.1f} s: entries waited for the claim timeout"
        print(f"\n{at_stop} committed before SIGTERM; the rest done {took:.1f} s after it")
        assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'applied'") == total
        assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0
        pending = cast(Any, redis.xpending_range(keys.stream, keys.group, "-", "+", 1000))
        assert all(int(p["times_delivered"]) == 1 for p in pending)
    finally:
        stack.stop()
