"""Driving the pipeline in-process and reading its state back for assertions."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis.exceptions
from redis import Redis
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from shared.backlog import queue_stats
from shared.db.payments import find_payment, history
from shared.doorbell import Doorbell
from shared.ops.documents import payment_document
from shared.queue import QueuedCallback, QueueKeys, append_sync
from shared.settings import Settings
from tests.support.fixtures import sample, signed
from workers.context import WorkerContext
from workers.drain import Drain
from workers.pipeline import Report


def append(redis: Redis, keys: QueueKeys, *callbacks: QueuedCallback, doorbell: Doorbell | None = None) -> None:
    """Append callbacks to the stream as an operator's replay does (one script call), and ring ``doorbell`` when
    the append took doorbell 0."""
    _, took = append_sync(redis, keys, list(callbacks))
    if took and doorbell is not None:
        doorbell.ring(0)


def drain_all(settings: Settings, *, timeout: float = 60.0) -> Report:
    """Run drains in this process until nothing is queued or in flight (what a worker does, minus Celery)."""
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    total = Report()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            total.add(Drain(ctx).run(0))
            try:
                stats = queue_stats(ctx.redis, ctx.keys)
            except redis.exceptions.ConnectionError:
                continue  # a fault test cut Redis: the next drain retries until it is back
            if stats.queued == 0 and stats.in_flight == 0:
                return total
            time.sleep(0.05)
    finally:
        ctx.close()
    raise AssertionError(f"queue did not drain in {timeout}s")


def post(web: TestClient, provider: str, body: bytes) -> str:
    """Send ``body`` as ``provider`` would (signed with the test credentials); the entry id of the 200."""
    sent, headers = signed(provider, body)
    response = web.post(f"/callbacks/{provider}", content=sent, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def payment(engine: Engine, provider: str, ref: str, account: str = "default") -> dict[str, Any] | None:
    with Session(engine) as session:
        found = find_payment(session, provider, ref, account)
        return None if found is None else payment_document(found, history(session, found))


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def drop_database(database: str) -> None:
    """Drop the database ``database`` (a URL) names, whoever is connected to it."""
    url = make_url(database)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def pivot_event(event: str, session: str, ref: str, status: str, **data: Any) -> bytes:
    """A Pivot payment notification like the sample, for another session."""
    doc: dict[str, Any] = json.loads(sample("pivot.payment_paid"))
    doc["event"] = event
    doc["data"].update(id=session, clientReferenceId=ref, status=status, **data)
    return json.dumps(doc).encode()


def pivot_refund(session: str, refund: str, *, full: bool, value: str = "500.00") -> bytes:
    doc: dict[str, Any] = json.loads(sample("pivot.refund_success"))
    doc["data"].update(id=refund, paymentSessionId=session, isFullAmount=full)
    doc["data"]["amount"]["value"] = value
    return json.dumps(doc).encode()
