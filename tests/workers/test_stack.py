"""The whole pipeline as the Procfile runs it: uvicorn, Celery workers and beat, as separate processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from sqlalchemy import Engine

from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import PIVOT_KEY, sample, signed
from tests.support.net import free_port
from tests.support.pipeline import payment, pivot_event, scalar
from tests.support.processes import Stack, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    started: list[Stack] = []

    def start(**overrides: str) -> Stack:
        s = Stack(env_for(settings.queue_prefix, **overrides), free_port(), tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_samples_sent_over_http_end_as_the_right_statuses(stack: Callable[..., Stack], engine: Engine) -> None:
    s = stack()
    s.web()
    s.worker()
    with httpx.Client(base_url=s.url) as http:
        for name in ("payment_processing", "payment_paid", "payment_test", "charge_success"):
            r = http.post("/callbacks/pivot", content=sample(f"pivot.{name}"), headers={"X-API-Key": PIVOT_KEY})
            assert r.status_code == 200
        body, headers = signed("revenue-monster", sample("revenue-monster.payment_web_online"))
        r = http.post("/callbacks/revenue-monster", content=body, headers=headers)
        assert r.status_code == 200
        assert http.post("/callbacks/pivot", content=b"{}", headers={"X-API-Key": "forged"}).status_code == 401
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM payment_events") == 4, 30, "4 events")
    assert payment(engine, "pivot", "1750758552")["status"] == "paid"  # type: ignore[index]
    assert payment(engine, "pivot", "STATIC-QRIS-42")["status"] == "paid"  # type: ignore[index]
    assert payment(engine, "revenue-monster", "P000000660800")["status"] == "paid"  # type: ignore[index]


def test_each_callback_sent_five_times_concurrently_is_applied_once(
    stack: Callable[..., Stack], engine: Engine
) -> None:
    s = stack(PAYHOOK_BATCH_SIZE="7", PAYHOOK_MAX_DRAINS="3")
    s.web()
    s.worker(concurrency=3)
    payments = 60
    bodies = [pivot_event("PAYMENT.PAID", f"sess-{i}", f"order-{i}", "PAID") for i in range(payments)]

    async def send_all() -> list[int]:
        # 300 requests on 50 connections: most wait for a connection, as long as the web takes to answer those
        # before them (over httpx's default 5 s on a loaded machine, a PoolTimeout). Waiting for a connection is
        # the point here, never a failure: no pool time limit; each request's own answer keeps the default's.
        limits, timeout = httpx.Limits(max_connections=50), httpx.Timeout(5.0, pool=None)
        async with httpx.AsyncClient(base_url=s.url, limits=limits, timeout=timeout) as http:
            calls = [
                http.post("/callbacks/pivot", content=body, headers={"X-API-Key": PIVOT_KEY})
                for body in bodies
                for _ in range(5)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert set(asyncio.run(send_all())) == {200}
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM payment_events") == payments * 5, 60, "all events")
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'applied'") == payments
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'duplicate'") == payments * 4
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM (SELECT payment_id FROM payment_events WHERE outcome = 'applied' "
            "GROUP BY payment_id HAVING count(*) = 1) x",
        )
        == payments
    )


def test_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    stack: Callable[..., Stack], settings: Settings, redis: Redis, engine: Engine
) -> None:
    total, distinct = 12_000, 10_000
    keys = QueueKeys(settings.queue_prefix)
    with redis.pipeline(transaction=False) as pipe:
        for i in range(total):
            j = i % distinct  # the last 2,000 repeat earlier callbacks
            body = pivot_event("PAYMENT.PAID", f"sess-{j}", f"order-{j}", "PAID")
            pipe.xadd(keys.stream, QueuedCallback("pivot", body, {}, time.time()).encode())  # type: ignore[arg-type]
        pipe.execute()
    s = stack(PAYHOOK_BATCH_SIZE="250")
    s.beat()
    victim = s.worker(concurrency=1)

    def events() -> int:
        return int(scalar(engine, "SELECT count(*) FROM payment_events"))

    wait_for(lambda: events() > 0, 60, "the first committed batch")
    Stack.kill(victim)
    at_kill = events()
    assert 0 < at_kill < total, "the kill must land mid-way"
    s.worker(concurrency=2)
    wait_for(lambda: events() == total, 120, "every callback after the kill")
    time.sleep(1)
    assert events() == total
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'applied'") == distinct
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'duplicate'") == total - distinct
    assert scalar(engine, "SELECT count(*) FROM payments WHERE status = 'paid'") == distinct
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0
