"""Receiver figures: requests per second and latency, round by round beside the bare baseline."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from scripts.bench import procs, wrk
from tests.support.net import free_port


@dataclass(frozen=True)
class Figures:
    rps: float
    p99_ms: float
    rounds: list[float]
    non_2xx: int


@dataclass(frozen=True)
class Target:
    """One server's URL and the request it is sent."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str]


def alternating(
    targets: list[Target], *, rounds: int, seconds: float, connections: int, redis: Redis, cleanup: list[str]
) -> dict[str, Figures]:
    """wrk against each target in turn, ``rounds`` times over (after a short warm-up of each): a neighbour's
    burst on this shared machine then falls on every target alike, not on whichever ran at the time. The
    servers are the caller's, already running."""
    results: dict[str, list[wrk.WrkResult]] = {target.name: [] for target in targets}
    for target in targets:
        wrk.run(target.url, target.body, target.headers, seconds=2, connections=connections, core=procs.LOAD_CORE)
    for _ in range(rounds):
        for target in targets:
            for key in cleanup:
                redis.delete(key)
            found = wrk.run(
                target.url, target.body, target.headers, seconds=seconds, connections=connections, core=procs.LOAD_CORE
            )
            results[target.name].append(found)
            time.sleep(0.5)
    for key in cleanup:
        redis.delete(key)
    return {name: _figures(found) for name, found in results.items()}


def ratio(case: Figures, base: Figures) -> float:
    """The median of the rounds' ratios: each round of ``case`` against the round of ``base`` beside it."""
    return statistics.median(c / b for c, b in zip(case.rounds, base.rounds, strict=True))


def _figures(results: list[wrk.WrkResult]) -> Figures:
    return Figures(
        rps=statistics.median(r.requests_per_second for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        rounds=[r.requests_per_second for r in results],
        non_2xx=sum(r.non_2xx + r.errors for r in results),
    )


def receiver_rss_after(
    requests: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    env: dict[str, str],
    logs: Path,
    redis: Redis,
    stream: str,
) -> tuple[float, float, int]:
    """Receiver RSS (MB) at start and after ``requests`` requests to ``path``, and how many were sent."""
    port = free_port()
    server = procs.uvicorn("ingest.app:app", port, env, logs / "receiver-memory.log")
    url = f"http://127.0.0.1:{port}{path}"
    try:
        wrk.run(url, body, headers, seconds=1, connections=64, core=procs.LOAD_CORE)
        before = server.rss_mb()
        sent = 0
        while sent < requests:
            probe = wrk.run(url, body, headers, seconds=20, connections=64, core=procs.LOAD_CORE)
            sent += probe.requests
            redis.delete(stream)  # nothing drains it here; keep Redis small
        return before, server.rss_mb(), sent
    finally:
        server.stop()
        redis.delete(stream)
