"""What the console's per-minute figures cost the drain: one upsert per committed batch.

Alternating in one run (this machine is shared and noisy): the drain alone, in this process, over the same
number of fresh callbacks (every provider's stories, 10 % duplicates, shuffled), with the figures' upsert and
without it (the upsert replaced by nothing). Prints each round's rate, the medians, their ratio and the load.
Then the upsert alone, the statement a batch adds, timed in its own transaction: less noisy than the ratio.

python -m scripts.bench.figures [--callbacks 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from sqlalchemy import create_engine, text

from scripts.bench.data import callbacks
from scripts.bench.pipeline import prefill
from shared.backlog import queue_stats
from shared.db import figures
from shared.db.migrate import upgrade
from shared.queue import QueueKeys
from shared.settings import Settings
from workers import pipeline
from workers.context import WorkerContext
from workers.drain import Drain

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_bench_figures"
PREFIX = "payhook-bench-figures"
TABLES = (
    "payments, payment_events, payment_checks, dead_letters, outbox_events, deliveries, delivery_attempts, "
    "minute_figures"
)


def _reset(settings: Settings, redis: Redis) -> None:
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    for key in redis.scan_iter(f"{PREFIX}:*"):
        redis.delete(key)


def drain_rate(settings: Settings, redis: Redis, count: int, start: int) -> float:
    """Callbacks per second one in-process drain commits, from a full stream to an empty one."""
    keys = QueueKeys(PREFIX)
    prefill(redis, keys, callbacks(count, start=start))
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        started = time.perf_counter()
        while True:
            Drain(ctx).run(0)
            stats = queue_stats(redis, keys)
            if stats.queued == 0 and stats.in_flight == 0:
                return count / (time.perf_counter() - started)
    finally:
        ctx.close()


def upsert_ms(settings: Settings, runs: int = 300) -> tuple[float, float]:
    """Median and p90 milliseconds one batch's upsert adds to its transaction (three providers, three outcomes),
    against rows already there (the common case: a busy minute); the batch commits anyway."""
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    counts = {(p, k): 7 for p in ("pivot", "midtrans", "revenue-monster") for k in ("applied", "duplicate", "stale")}
    times = []
    try:
        for _ in range(runs):
            with ctx.sessions.begin() as session:
                session.execute(text("SELECT 1"))  # the transaction is open, as a batch's is
                started = time.perf_counter()
                figures.add(session, counts, shard=0)
                times.append((time.perf_counter() - started) * 1000)
    finally:
        ctx.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--callbacks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env({"PAYHOOK_DATABASE_URL": DATABASE, "PAYHOOK_QUEUE_PREFIX": PREFIX})
    upgrade(settings)
    redis = Redis.from_url(settings.redis_url)
    real_add: Callable[..., Any] = figures.add
    rates: dict[str, list[float]] = {"without figures": [], "with figures": []}
    print(f"load average before: {os.getloadavg()}")
    for round_ in range(args.rounds):
        modes = list(rates) if round_ % 2 == 0 else list(reversed(rates))
        for mode in modes:
            pipeline.figures.add = real_add if mode == "with figures" else (lambda *_a, **_k: None)  # type: ignore[attr-defined]
            _reset(settings, redis)
            rate = drain_rate(settings, redis, args.callbacks, start=round_ * args.callbacks)
            rates[mode].append(rate)
            print(f"round {round_ + 1} {mode:>16}: {rate:8.0f} callbacks/s   load {os.getloadavg()[0]:.2f}")
    pipeline.figures.add = real_add  # type: ignore[attr-defined]
    without, with_ = (statistics.median(rates[m]) for m in ("without figures", "with figures"))
    print(f"median without figures {without:.0f}/s, with figures {with_:.0f}/s: ratio {with_ / without:.3f}")
    median, p90 = upsert_ms(settings)
    print(f"one batch's upsert: median {median:.2f} ms, p90 {p90:.2f} ms")
    print(f"load average after: {os.getloadavg()}")
    redis.close()


if __name__ == "__main__":
    main()
