"""Receiver figures: requests per second and latency, against the bare baseline and the typical peer."""

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


def measure(
    app: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    env: dict[str, str],
    logs: Path,
    *,
    rounds: int,
    seconds: float,
    connections: int,
    redis: Redis,
    cleanup: list[str],
) -> Figures:
    """Median of ``rounds`` wrk runs against one uvicorn process serving ``app`` (after a short warm-up)."""
    port = free_port()
    server = procs.uvicorn(app, port, env, logs / f"{app.replace(':', '_')}.log")
    url = f"http://127.0.0.1:{port}{path}"
    try:
        wrk.run(url, body, headers, seconds=2, connections=connections, core=procs.LOAD_CORE)
        results = []
        for _ in range(rounds):
            for key in cleanup:
                redis.delete(key)
            results.append(wrk.run(url, body, headers, seconds=seconds, connections=connections, core=procs.LOAD_CORE))
            time.sleep(0.5)
    finally:
        server.stop()
        for key in cleanup:
            redis.delete(key)
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
