"""Worker-side figures: the Celery ceiling, end-to-end drain rate, freshness under steady load, memory."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import psycopg
from redis import Redis

from scripts.bench import apps, procs
from scripts.bench.data import Callback
from shared.backlog import queue_stats
from shared.queue import QueuedCallback, QueueKeys

# A callback over HTTP: path, body as sent, headers.
Request = tuple[str, bytes, dict[str, str]]


def prefill(redis: Redis, keys: QueueKeys, items: Iterable[Callback], chunk: int = 5000) -> int:
    """Append callbacks to the stream as the receiver would, pipelined; return how many."""
    count = 0
    pipe = redis.pipeline(transaction=False)
    for provider, body, headers in items:
        pipe.xadd(keys.stream, QueuedCallback(provider, body, headers, time.time()).encode())  # type: ignore[arg-type]
        count += 1
        if count % chunk == 0:
            pipe.execute()
    pipe.execute()
    return count


def wait_drained(redis: Redis, keys: QueueKeys, timeout: float) -> tuple[float, float]:
    """Seconds from the first entry taken to the queue being empty, polled every 20 ms; and its end time."""
    started = None
    deadline = time.monotonic() + timeout
    total = None
    while time.monotonic() < deadline:
        stats = queue_stats(redis, keys)
        if total is None:
            total = stats.queued
        if started is None and (stats.in_flight or stats.queued < total):
            started = time.monotonic()
        if started is not None and stats.queued == 0 and stats.in_flight == 0:
            end = time.monotonic()
            return end - started, end
        time.sleep(0.02)
    raise RuntimeError("the queue did not drain in time")


def celery_ceiling(redis: Redis, env: dict[str, str], logs: Path, tasks: int, concurrency: int) -> float:
    """No-op tasks per second one Celery worker drains, one task per callback, published beforehand."""
    redis.delete(apps.PEER_QUEUE)
    with apps.peer_celery.producer_or_acquire() as producer:
        for _ in range(tasks):
            apps.process_callback.apply_async(args=[{}], producer=producer)
    worker = procs.celery_worker("scripts.bench.apps:peer_celery", concurrency, env, logs / "ceiling.log")
    try:
        started = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            left = int(redis.llen(apps.PEER_QUEUE))
            if started is None and left < tasks:
                started = time.monotonic()
            if started is not None and left == 0:
                return tasks / (time.monotonic() - started)
            time.sleep(0.01)
        raise RuntimeError("celery did not drain the no-op tasks")
    finally:
        worker.stop()
        redis.delete(apps.PEER_QUEUE)


class VisibilityPoller(threading.Thread):
    """Records when each entry's event first becomes visible (committed) in PostgreSQL."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.seen: dict[str, float] = {}
        self.stop_flag = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            floor = 0
            while not self.stop_flag.is_set():
                rows = conn.execute(
                    "SELECT id, entry_id FROM payment_events WHERE id > %s ORDER BY id", (floor,)
                ).fetchall()
                now = time.time()
                for _row_id, entry_id in rows:
                    self.seen.setdefault(entry_id, now)
                if rows:
                    # Transactions commit out of id order: look back over a window wider than two batches.
                    floor = max(floor, rows[-1][0] - 5000)
                time.sleep(0.005)


async def _steady(port: int, requests: list[Request], rate: float, connections: int) -> dict[str, float]:
    """Send ``requests`` at ``rate`` per second over keep-alive connections; entry id -> time its 200 arrived."""
    answered: dict[str, float] = {}
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    async def send(request: Request) -> None:
        path, body, headers = request
        reader, writer = await pool.get()
        fields = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (f"POST {path} HTTP/1.1\r\nHost: bench\r\n{fields}Content-Length: {len(body)}\r\n\r\n").encode()
        writer.write(head + body)
        header = await reader.readuntil(b"\r\n\r\n")
        length = int(header.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        payload = await reader.readexactly(length)
        if header.startswith(b"HTTP/1.1 200"):
            answered[payload.split(b'"id":"')[1].split(b'"')[0].decode()] = time.time()
        pool.put_nowait((reader, writer))

    started = time.monotonic()
    tasks = []
    for i, request in enumerate(requests):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(request)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return answered


def freshness(port: int, requests: list[Request], dsn: str, rate: float) -> tuple[float, float, int]:
    """p50 and p99 seconds from each 200 to its committed status, and how many were measured."""
    poller = VisibilityPoller(dsn)
    poller.start()
    answered = asyncio.run(_steady(port, requests, rate, connections=32))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not set(answered) <= set(poller.seen):
        time.sleep(0.05)
    poller.stop_flag.set()
    poller.join(5)
    lags = sorted(max(0.0, poller.seen[e] - t) for e, t in answered.items() if e in poller.seen)
    if len(lags) < len(answered):
        raise RuntimeError(f"{len(answered) - len(lags)} answered callbacks never became visible")
    return statistics.median(lags), lags[int(len(lags) * 0.99) - 1], len(lags)
