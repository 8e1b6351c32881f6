"""Prometheus metrics of the receiver."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from shared.backlog import QueueStats

RESULTS = (
    "queued",
    "spooled",
    "unauthorized",
    "forbidden",
    "too_large",
    "unavailable",
    "not_configured",
    "bad_request",
)


@dataclass(frozen=True, slots=True)
class ScrapeFigures:
    """What a scrape reads: the stream's numbers (None while Redis is away), then the spool, the dead letters
    waiting and the unresolved payments (None while PostgreSQL is away)."""

    stats: QueueStats | None
    spooled: int | None = None
    waiting: int | None = None
    unresolved: int | None = None


class _FoldCounts(Collector):
    """Folds the plain counts into ``payhook_callbacks_total`` when the registry is collected; no metric of
    its own."""

    def __init__(self, metrics: ReceiverMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        self._metrics.fold_counts()
        return ()


class ReceiverMetrics:
    def __init__(self, registry: CollectorRegistry, providers: list[str]) -> None:
        self.registry = registry
        # First in the registry, so first collected: the counter read after it is up to date.
        registry.register(_FoldCounts(self))
        self.callbacks = Counter(
            "payhook_callbacks_total",
            "Callbacks received, by provider and result",
            ["provider", "result"],
            registry=registry,
        )
        self.append_seconds = Histogram(
            "payhook_append_seconds",
            "Time of one coalesced append to Redis (many callbacks at once under load)",
            registry=registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
        self.append_batch = Histogram(
            "payhook_append_batch_size",
            "Callbacks per coalesced append",
            registry=registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
        # The queue, read from Redis and PostgreSQL when scraped (never on the callback path).
        self.queue_depth = Gauge(
            "payhook_queue_depth", "Callbacks queued, not yet delivered to a worker", registry=registry
        )
        self.queue_in_flight = Gauge(
            "payhook_queue_in_flight", "Callbacks delivered, not yet committed", registry=registry
        )
        self.queue_oldest = Gauge(
            "payhook_queue_oldest_seconds", "Age of the oldest callback waiting (0 when none)", registry=registry
        )
        self.pending = Gauge(
            "payhook_queue_pending",
            "Callbacks delivered to a consumer and not yet committed",
            ["consumer"],
            registry=registry,
        )
        self.spooled = Gauge("payhook_spooled_callbacks", "Callbacks in PostgreSQL's fallback spool", registry=registry)
        self.dead_letters_waiting = Gauge(
            "payhook_dead_letters_waiting", "Dead letters waiting for an operator", registry=registry
        )
        self.unresolved = Gauge(
            "payhook_unresolved_payments",
            "Payments still not final when the reconcile schedule was spent",
            registry=registry,
        )
        # The callback path adds one to a plain integer here, by (provider, result): a prometheus_client
        # child's inc() is four calls and a lock per request. Whoever collects the registry first folds them in.
        self.counts = dict.fromkeys(((p, r) for p in providers for r in RESULTS), 0)
        self._folded = dict(self.counts)
        self._children = {key: self.callbacks.labels(*key) for key in self.counts}

    def fold_counts(self) -> None:
        """Add what was counted since the last fold to the counter. Only the event loop adds to ``counts``;
        a fold in another thread may miss an increment made meanwhile, never lose it (the next fold adds it)."""
        for key, count in self.counts.items():
            delta = count - self._folded[key]
            if delta:
                self._folded[key] = count
                self._children[key].inc(delta)

    def observe_append(self, seconds: float, size: int) -> None:
        self.append_seconds.observe(seconds)
        self.append_batch.observe(size)

    def observe_queue(self, figures: ScrapeFigures) -> None:
        """The queue's gauges; NaN for what could not be read (Redis or PostgreSQL away)."""
        nan = math.nan
        stats, spooled, waiting = figures.stats, figures.spooled, figures.waiting
        self.unresolved.set(nan if figures.unresolved is None else figures.unresolved)
        self.queue_depth.set(nan if stats is None else stats.queued)
        self.queue_in_flight.set(nan if stats is None else stats.in_flight)
        oldest = None if stats is None else (stats.oldest_waiting_seconds or 0.0)
        self.queue_oldest.set(nan if oldest is None else oldest)
        self.spooled.set(nan if spooled is None else spooled)
        self.dead_letters_waiting.set(nan if waiting is None else waiting)
        self.pending.clear()  # consumers come and go: only those holding entries now
        for consumer, count in (stats.pending_by_consumer if stats else {}).items():
            self.pending.labels(consumer).set(count)
