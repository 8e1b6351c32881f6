"""The outbox under load, with one endpoint subscribed to every event: a local server that reads each POST and
answers 200 at once (``apps.endpoint``), on the load core (no wrk runs beside it).

- ``end_to_end``: the end-to-end drain again, same callbacks, with the endpoint: how much of its rate
  ingestion keeps, and whether delivery keeps up with the events ingestion makes.
- ``freshness``: a steady 1,000 callbacks/s through the receiver with the endpoint: applied -> delivered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, text

from scripts.bench import data, pipeline, procs
from scripts.bench.run import DATABASE, Run, drained, query, steady
from shared.ops.service import OperatorService
from shared.settings import Settings
from tests.support.net import free_port

_UNFINISHED = text("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')")
_COUNTS = """SELECT (SELECT count(*) FROM outbox_events), (SELECT count(*) FROM deliveries),
    (SELECT count(*) FROM deliveries WHERE status = 'delivered'), (SELECT count(*) FROM delivery_attempts)"""
# From the first event made to the last delivered.
_SPAN = """SELECT CAST(extract(epoch FROM max(d.delivered_at) - min(o.created_at)) AS float8)
    FROM deliveries d JOIN outbox_events o ON o.id = d.event_id"""
# Applied (the event written in the batch's transaction) -> delivered, over every delivery.
_LAGS = """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP (ORDER BY lag),
    count(*) FROM (SELECT CAST(extract(epoch FROM d.delivered_at - o.created_at) AS float8) AS lag
                   FROM deliveries d JOIN outbox_events o ON o.id = d.event_id) AS lags"""

Row = tuple[str, str, str, bool]


@dataclass(frozen=True)
class Throughput:
    callbacks: int
    seconds: float  # from the first entry taken to the stream drained
    events: int  # outbox events made: state-changing callbacks (and conflicts)
    attempts: int  # delivery attempts made; one per event when none failed
    delivery_seconds: float  # from the first event made to the last delivered
    settle_seconds: float  # from the stream drained to every delivery delivered

    @property
    def rate(self) -> float:
        return self.callbacks / self.seconds

    @property
    def event_rate(self) -> float:
        return self.events / self.seconds

    @property
    def delivery_rate(self) -> float:
        return self.events / self.delivery_seconds


@dataclass(frozen=True)
class Freshness:
    committed: tuple[float, float, int]  # 200 -> committed, with the endpoint subscribed
    delivered: tuple[float, float, int]  # applied -> delivered


@contextmanager
def endpoint(run: Run, label: str) -> Iterator[str]:
    """The endpoint server running, and subscribed to every event type of every provider; its URL."""
    port = free_port()
    log = run.logs / f"{label}.log"
    server = procs.uvicorn("scripts.bench.apps:endpoint", port, run.env, log, core=procs.LOAD_CORE)
    try:
        url = f"http://127.0.0.1:{port}/payhook"
        ops = OperatorService(Settings.from_env(run.env), pool_size=1)
        try:
            ops.add_endpoint(url, None, None, actor="bench")
        finally:
            ops.close()
        yield url
    finally:
        server.stop()


def wait_delivered(timeout: float) -> tuple[float, int]:
    """Wait until no delivery is unfinished; every event must then be delivered, once. Seconds waited and
    the delivery attempts made."""
    started = time.monotonic()
    engine = create_engine(DATABASE)
    try:
        with engine.connect() as conn:
            while conn.execute(_UNFINISHED).scalar_one():
                conn.rollback()  # not idle in a transaction meanwhile
                if time.monotonic() - started > timeout:
                    raise RuntimeError(f"deliveries still unfinished after {timeout:g} s")
                time.sleep(0.05)
    finally:
        engine.dispose()
    waited = time.monotonic() - started
    events, deliveries, delivered, attempts = (int(n) for n in query(_COUNTS))
    if not events == deliveries == delivered:
        raise RuntimeError(f"{events} outbox events, {deliveries} deliveries, {delivered} delivered")
    return waited, attempts


def end_to_end(run: Run) -> Throughput:
    """The end-to-end drain of ``--callbacks`` prefilled callbacks with the endpoint, then every delivery."""
    run.reset()
    items = data.callbacks(run.args.callbacks)
    with endpoint(run, "e2e-endpoint"):
        pipeline.prefill(run.redis, run.keys, items)
        with run.workers("e2e-outbox"):
            seconds = drained(run, items)
            settle, attempts = wait_delivered(timeout=1800)
    events = int(query("SELECT count(*) FROM outbox_events")[0])
    (span,) = query(_SPAN)
    return Throughput(len(items), seconds, events, attempts, float(span), settle)


def freshness(run: Run) -> Freshness:
    """Steady 1,000 callbacks/s through the receiver with the endpoint; applied -> delivered from the
    database once every delivery is delivered."""
    run.reset()
    with endpoint(run, "fresh-endpoint"), run.workers("fresh-outbox"):
        committed = steady(run, "fresh-outbox")
        wait_delivered(timeout=900)
    p50, p99, count = query(_LAGS)
    return Freshness(committed, (float(p50), float(p99), int(count)))


def rows(e2e_without: float, callbacks: int, through: Throughput, fresh: Freshness) -> list[Row]:
    """Report rows: name, measured, target, met."""
    kept = through.rate / e2e_without
    retried = through.attempts - through.events
    c50, c99, committed = fresh.committed
    d50, d99, delivered = fresh.delivered
    return [
        (
            f"end to end with 1 endpoint, {callbacks:,} callbacks",
            f"{through.rate:,.0f} callbacks/s = {kept:.0%} of without",
            ">= 80 %",
            kept >= 0.8,
        ),
        (
            "delivery vs ingestion of state-changing callbacks",
            f"{through.events:,} events made at {through.event_rate:,.0f}/s, delivered at "
            f"{through.delivery_rate:,.0f}/s, the last {through.settle_seconds:.1f} s after the drain, "
            f"{retried:,} retries",
            ">= ingestion rate",
            through.delivery_rate >= through.event_rate,
        ),
        (
            "freshness at 1,000/s offered, 1 endpoint",
            f"p50 {c50 * 1000:.0f} ms, p99 {c99 * 1000:.0f} ms ({committed:,} callbacks)",
            "p99 <= 1 s",
            c99 <= 1.0,
        ),
        (
            "applied -> delivered at 1,000/s offered",
            f"p50 {d50 * 1000:.0f} ms, p99 {d99 * 1000:.0f} ms ({delivered:,} deliveries)",
            "p99 <= 1 s",
            d99 <= 1.0,
        ),
    ]
