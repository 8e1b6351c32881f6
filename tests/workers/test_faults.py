"""Faults, injected through a TCP proxy of the test's own: the machine's services are never touched."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter

import pytest
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.canonical import Outcome
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.support.fixtures import PIVOT_KEY, sample
from tests.support.net import TcpProxy
from tests.support.pipeline import append, drain_all, pivot_event, scalar
from workers.pipeline import Report

pytestmark = pytest.mark.integration


def _via(url: str, port: int) -> str:
    return make_url(url).set(port=port).render_as_string(hide_password=False)


def _fill(redis: Redis, settings: Settings, count: int) -> None:
    for i in range(count):
        body = pivot_event("PAYMENT.PAID", f"sess-{i}", f"order-{i}", "PAID")
        append(redis, QueueKeys(settings.queue_prefix), QueuedCallback("pivot", body, {}, time.time()))


def _drain_in_threads(settings: Settings, count: int) -> tuple[list[threading.Thread], list[Report]]:
    reports: list[Report] = []
    threads = [
        threading.Thread(target=lambda: reports.append(drain_all(settings, timeout=90)), daemon=True)
        for _ in range(count)
    ]
    for t in threads:
        t.start()
    return threads, reports


def test_postgres_unreachable_for_a_while_then_back_loses_nothing_and_runs_nothing_twice(
    settings: Settings, redis: Redis, engine: Engine
) -> None:
    n = 300
    _fill(redis, settings, n)
    db = make_url(settings.database_url)
    with TcpProxy(db.port or 5432) as proxy:
        faulty = dataclasses.replace(settings, database_url=_via(settings.database_url, proxy.port), batch_size=50)
        proxy.cut()
        # Two workers retry side by side for longer than the claim timeout: neither may steal the other's entries.
        threads, reports = _drain_in_threads(faulty, 2)
        time.sleep(settings.claim_timeout_seconds * 2)
        assert scalar(engine, "SELECT count(*) FROM payment_events") == 0
        proxy.restore()
        for t in threads:
            t.join(90)
    outcomes: Counter[Outcome] = Counter()
    for report in reports:
        outcomes.update(report.outcomes)
    assert outcomes == Counter({Outcome.APPLIED: n}), "every entry processed once, by one worker"
    assert scalar(engine, "SELECT count(*) FROM payments WHERE status = 'paid'") == n


def _cut_mid_drain(settings: Settings, engine: Engine, service: str, outage: float) -> None:
    """Drain through a proxy to ``service`` ("postgres" or "redis"), cut it once the first batch committed,
    restore it after ``outage`` seconds."""
    url = settings.database_url if service == "postgres" else settings.redis_url
    with TcpProxy(make_url(url).port or (5432 if service == "postgres" else 6379)) as proxy:
        faulty = dataclasses.replace(settings, batch_size=100)
        if service == "postgres":
            faulty = dataclasses.replace(faulty, database_url=_via(url, proxy.port))
        else:
            faulty = dataclasses.replace(faulty, redis_url=_via(url, proxy.port))
        threads, _ = _drain_in_threads(faulty, 1)
        deadline = time.monotonic() + 30
        while scalar(engine, "SELECT count(*) FROM payment_events") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        proxy.cut()
        time.sleep(outage)
        proxy.restore()
        threads[0].join(90)


@pytest.mark.parametrize(("service", "outage"), [("postgres", 1.5), ("redis", 1.0)])
def test_connections_cut_mid_drain_then_back_lose_nothing(
    settings: Settings, redis: Redis, engine: Engine, service: str, outage: float
) -> None:
    """PostgreSQL cut mid-transaction, or a Redis hiccup in the worker: retried until it is back."""
    n = 2000
    _fill(redis, settings, n)
    _cut_mid_drain(settings, engine, service, outage)
    assert scalar(engine, "SELECT count(*) FROM payment_events") == n
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'applied'") == n


def test_without_the_spool_the_receiver_answers_503_never_200_while_redis_is_cut(
    settings: Settings, redis: Redis
) -> None:
    """(With the spool on, the default, PostgreSQL takes the callback instead: tests/ingest/test_spool.py.)"""
    with TcpProxy(make_url(settings.redis_url).port or 6379) as proxy:
        faulty = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{proxy.port}/0", fallback_spool=False)
        with TestClient(create_app(faulty, ring=False)) as web:
            body = sample("pivot.payment_paid")
            assert web.post("/callbacks/pivot", content=body, headers={"X-API-Key": PIVOT_KEY}).status_code == 200
            proxy.cut()
            started = time.perf_counter()
            refused = web.post("/callbacks/pivot", content=body, headers={"X-API-Key": PIVOT_KEY})
            elapsed = time.perf_counter() - started
            assert refused.status_code == 503
            assert web.get("/readyz").status_code == 503
            proxy.restore()
            assert web.post("/callbacks/pivot", content=body, headers={"X-API-Key": PIVOT_KEY}).status_code == 200
    print(f"503 with Redis cut answered in {elapsed * 1000:.1f} ms")
    assert redis.xlen(QueueKeys(settings.queue_prefix).stream) == 2
