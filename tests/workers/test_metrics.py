"""The worker's metrics: the whole prefork pool on one port, events by provider and outcome, dead letters by
reason, batch, commit and end-to-end histograms, deliveries present from the start; counts outlive a pool
child that is killed."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import Engine

from shared.celery_app import make_celery
from shared.doorbell import Doorbell
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.net import free_port
from tests.support.pipeline import append, pivot_event, scalar
from tests.support.processes import Stack, wait_for

pytestmark = pytest.mark.integration


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(value for (metric, _), value in samples.items() if metric == name)


def test_the_pool_reports_on_one_port_and_its_counts_outlive_a_killed_child(
    settings: Settings, redis: Redis, engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    stack = Stack(env_for(settings.queue_prefix, PAYHOOK_WORKER_METRICS_PORT=str(port)), free_port(), tmp_path)
    worker = stack.worker(concurrency=2)
    try:
        wait_for(lambda: _reachable(port), 30, "the worker's metrics endpoint")
        assert _scrape(port)[("payhook_deliveries_total", (("result", "failed"),))] == 0, "present from the start"
        keys = QueueKeys(settings.queue_prefix)
        doorbell = Doorbell(keys, redis=redis, celery=make_celery(settings))
        paid = 300
        for i in range(paid):
            body = pivot_event("PAYMENT.PAID", f"s{i}", f"o{i}", "PAID")
            append(redis, keys, QueuedCallback("pivot", body, {}, time.time()), doorbell=doorbell)
        append(redis, keys, QueuedCallback("pivot", b"not json", {}, time.time()), doorbell=doorbell)
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM payment_events") == paid, 60, "every event")
        wait_for(lambda: _total(_scrape(port), "payhook_events_total") == paid, 10, "the events counted")
        samples = _scrape(port)
        assert samples[("payhook_events_total", (("outcome", "applied"), ("provider", "pivot")))] == paid
        assert samples[("payhook_dead_letters_total", (("provider", "pivot"), ("reason", "invalid_json")))] == 1
        assert samples[("payhook_end_to_end_seconds_count", ())] == paid
        assert samples[("payhook_commit_seconds_count", ())] >= 1
        assert samples[("payhook_batch_size_sum", ())] == paid + 1

        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert len(children) == 2, "one port for a pool of two"
        for child in children:
            Stack.kill_pid(int(child), signal.SIGKILL)
        time.sleep(1)
        assert _total(_scrape(port), "payhook_events_total") == paid, "the killed children's counts remain"
    finally:
        stack.stop()


def _reachable(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
