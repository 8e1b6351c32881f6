"""The worker's Prometheus metrics, from its whole prefork pool on one port.

prometheus-client's multiprocess mode: every process of the pool writes its samples to files in one folder
(``PROMETHEUS_MULTIPROC_DIR``, which ``workers.app`` makes fresh for each worker before prometheus-client is
first imported), and the worker's main process serves them all on ``PAYHOOK_WORKER_METRICS_PORT``. A pool
child that is replaced leaves its counts behind for the next scrape. Run in-process (tests), the same
metrics simply live in that process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

from workers.pipeline import Report

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

EVENTS = Counter("payhook_events_total", "Events committed, by provider and outcome", ["provider", "outcome"])
DEAD_LETTERS = Counter(
    "payhook_dead_letters_total", "Callbacks dead-lettered, by provider and reason", ["provider", "reason"]
)
BATCH_SIZE = Histogram(
    "payhook_batch_size", "Callbacks per committed batch", buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000)
)
COMMIT_SECONDS = Histogram("payhook_commit_seconds", "Time to commit one batch to PostgreSQL", buckets=_LATENCY)
END_TO_END_SECONDS = Histogram(
    "payhook_end_to_end_seconds", "From the receiver's 200 to the committed event", buckets=_LATENCY
)
RECLAIMED = Counter("payhook_reclaimed_total", "Entries reclaimed from crashed consumers")
RETRIES = Counter("payhook_transient_retries_total", "Retries of transient failures (PostgreSQL, Redis)")
DELIVERIES = Counter("payhook_deliveries_total", "Outbox delivery attempts, by result", ["result"])
for _result in ("delivered", "retried", "failed", "disabled"):
    DELIVERIES.labels(_result)  # present from the start, at 0
DELIVERY_SECONDS = Histogram("payhook_delivery_seconds", "One delivery attempt (HTTP or handler)", buckets=_LATENCY)
DELIVERY_LAG_SECONDS = Histogram(
    "payhook_delivery_lag_seconds", "From the committed payment change to its delivery", buckets=_LATENCY
)


RECONCILE_CHECKS = Counter(
    "payhook_reconcile_checks_total",
    "Queries of a provider's status API, by provider and result",
    ["provider", "result"],
)
PROVIDER_API_SECONDS = Histogram(
    "payhook_provider_api_seconds", "One request to a provider's status API", ["provider"], buckets=_LATENCY
)


def observe_commit(report: Report, received_at: Iterable[float], seconds: float) -> None:
    """One committed batch: its events and dead letters, its size, how long it took, how long each waited."""
    now = time.time()
    for (provider, outcome), count in report.events.items():
        EVENTS.labels(provider, str(outcome)).inc(count)
    for (provider, reason), count in report.dead_letters.items():
        DEAD_LETTERS.labels(provider, reason).inc(count)
    size = sum(report.events.values()) + report.dead_lettered + report.ignored
    if size:
        BATCH_SIZE.observe(size)
        COMMIT_SECONDS.observe(seconds)
    for at in received_at:
        END_TO_END_SECONDS.observe(max(0.0, now - at))


def observe_deliveries(results: Mapping[str, int], lags: Iterable[float], durations: Iterable[float]) -> None:
    for result, count in results.items():
        DELIVERIES.labels(result).inc(count)
    for lag in lags:
        DELIVERY_LAG_SECONDS.observe(max(0.0, lag))
    for seconds in durations:
        DELIVERY_SECONDS.observe(seconds)


def observe_checks(results: Iterable[tuple[str, str]]) -> None:
    """Queries made: (provider, result) each."""
    for provider, result in results:
        RECONCILE_CHECKS.labels(provider, result).inc()


def observe_api(provider: str, seconds: float) -> None:
    PROVIDER_API_SECONDS.labels(provider).observe(seconds)


def serve(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from other hosts
    """The whole pool's metrics on ``host``:``port`` (the worker's main process calls this before forking)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)


def forget(pid: int) -> None:
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
