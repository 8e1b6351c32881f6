"""The web process's /metrics: callbacks by provider and result, and the queue's gauges read at scrape time."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import Engine
from starlette.testclient import TestClient

from ingest.metrics import ReceiverMetrics
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.support.fixtures import sample
from tests.support.pipeline import drain_all, post

pytestmark = pytest.mark.integration


def _samples(web: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = web.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_queue_gauges_follow_the_queue_and_the_counters_the_callbacks(
    settings: Settings, web: TestClient, engine: Engine, redis: Redis
) -> None:
    empty = _samples(web)
    assert empty[("payhook_queue_depth", ())] == 0
    assert empty[("payhook_queue_oldest_seconds", ())] == 0, "0 when nothing waits"
    for name in ("payment_processing", "payment_paid", "payment_cancelled"):
        post(web, "pivot", sample(f"pivot.{name}"))
    post(web, "midtrans", sample("midtrans.bank_transfer_settlement"))
    post(web, "pivot", b"garbage")
    redis.xgroup_create(QueueKeys(settings.queue_prefix).stream, QueueKeys(settings.queue_prefix).group, id="0")
    keys = QueueKeys(settings.queue_prefix)
    redis.xreadgroup(keys.group, "a-worker", {keys.stream: ">"}, count=2)
    waiting = _samples(web)
    assert waiting[("payhook_queue_depth", ())] == 3
    assert waiting[("payhook_queue_in_flight", ())] == 2
    assert waiting[("payhook_queue_pending", (("consumer", "a-worker"),))] == 2
    assert waiting[("payhook_queue_oldest_seconds", ())] > 0
    assert waiting[("payhook_callbacks_total", (("provider", "pivot"), ("result", "queued")))] == 4
    assert waiting[("payhook_callbacks_total", (("provider", "midtrans"), ("result", "queued")))] == 1
    drain_all(settings)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO spooled_callbacks (provider, body, headers, received_at) VALUES ('pivot', '\\x00', '{}', 1)"
        )
    done = _samples(web)
    assert (done[("payhook_queue_depth", ())], done[("payhook_queue_oldest_seconds", ())]) == (0, 0)
    assert done[("payhook_spooled_callbacks", ())] == 1
    assert done[("payhook_dead_letters_waiting", ())] == 1


def test_callbacks_counted_in_plain_integers_reach_every_collection_of_the_registry() -> None:
    registry = CollectorRegistry()
    metrics = ReceiverMetrics(registry, ["pivot", "midtrans"])
    metrics.counts[("pivot", "queued")] += 3
    labels = {"provider": "pivot", "result": "queued"}
    assert registry.get_sample_value("payhook_callbacks_total", labels) == 3
    assert registry.get_sample_value("payhook_callbacks_total", labels) == 3, "a second collection adds nothing"
    metrics.counts[("pivot", "queued")] += 2
    metrics.counts[("midtrans", "unauthorized")] += 1
    assert registry.get_sample_value("payhook_callbacks_total", labels) == 5
    assert registry.get_sample_value("payhook_callbacks_total", {"provider": "midtrans", "result": "unauthorized"}) == 1
    assert registry.get_sample_value("payhook_callbacks_created", labels) is not None
