"""Prometheus metrics of the receiver."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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


class ReceiverMetrics:
    def __init__(self, registry: CollectorRegistry, providers: list[str]) -> None:
        self.registry = registry
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
        # Children bound once: no label lookup per request.
        self.by_result = {(p, r): self.callbacks.labels(p, r) for p in providers for r in RESULTS}

    def observe_append(self, seconds: float, size: int) -> None:
        self.append_seconds.observe(seconds)
        self.append_batch.observe(size)
