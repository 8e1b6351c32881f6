"""What every measurement shares: the bench's database and Redis prefix, its settings, a reset between
measurements, the worker and beat, a prefilled stream drained and checked, steady load through the receiver."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scripts.bench import data, pipeline, procs
from shared.providers import Provider, Signer, all_providers
from shared.queue import QueueKeys
from tests.support.net import free_port

PREFIX = "payhook-bench"
DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_bench"
TABLES = (
    "payment_events, payments, dead_letters, spooled_callbacks, delivery_attempts, deliveries, endpoints, "
    "outbox_events, audit_log"
)


@dataclass
class Run:
    args: argparse.Namespace
    env: dict[str, str]
    redis: Redis
    keys: QueueKeys
    logs: Path
    signers: dict[str, Signer]

    def signed(self, provider: Provider, body: bytes) -> pipeline.Request:
        sent, headers = self.signers[provider.name].sign(body)
        return f"/callbacks/{provider.name}", sent, headers

    def reset(self) -> None:
        for key in self.redis.scan_iter(f"{PREFIX}:*"):
            self.redis.delete(key)
        self.redis.delete(PREFIX, f"{PREFIX}.deliveries")
        engine = create_engine(DATABASE)
        with engine.begin() as conn:
            # CASCADE: with the tables that refer to these (the reconciler's payment_checks, say).
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        engine.dispose()

    @contextmanager
    def workers(self, label: str) -> Iterator[procs.Proc]:
        """A Celery worker (drains and delivery loops) and beat, logging to ``<label>-worker.log`` and
        ``<label>-beat.log``; the worker is yielded."""
        worker = procs.celery_worker("workers.app", self.args.concurrency, self.env, self.logs / f"{label}-worker.log")
        beat = procs.celery_beat(self.env, self.logs / f"{label}-beat.log")
        try:
            yield worker
        finally:
            worker.stop()
            beat.stop()


def query(sql: str) -> tuple[Any, ...]:
    """One row from the bench's database."""
    engine = create_engine(DATABASE)
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(text(sql)).one())
    finally:
        engine.dispose()


def drained(run: Run, items: list[data.Callback]) -> float:
    """Seconds for the running worker to drain the prefilled ``items``; every callback that means something
    must be recorded once, and none dead-lettered."""
    seconds, _ = pipeline.wait_drained(run.redis, run.keys, timeout=900)
    ignored = sum(1 for name, body, _ in items if all_providers()[name].normalize(body) is None)
    events, dead = query("SELECT (SELECT count(*) FROM payment_events), (SELECT count(*) FROM dead_letters)")
    if events != len(items) - ignored or dead:
        raise RuntimeError(f"end to end recorded {events} events and {dead} dead letters for {len(items)}")
    return seconds


def steady(run: Run, label: str) -> tuple[float, float, int]:
    """200 -> committed at a steady 1,000 callbacks/s through the receiver; the worker must be running."""
    port = free_port()
    web = procs.uvicorn("ingest.app:app", port, run.env, run.logs / f"{label}-web.log")
    try:
        items = data.callbacks(15_000, duplicates=0.0, start=10_000_000)
        requests = [run.signed(all_providers()[name], body) for name, body, _ in items]
        libpq = make_url(DATABASE).set(drivername="postgresql").render_as_string(hide_password=False)
        live = [r for r, (name, body, _) in zip(requests, items, strict=True) if all_providers()[name].normalize(body)]
        return pipeline.freshness(port, live, libpq, rate=1000.0)
    finally:
        web.stop()
