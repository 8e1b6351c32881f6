"""Reconciliation as the Procfile runs it: uvicorn and Celery workers as processes, the providers' stand-in
answering over HTTP. The workers' own tick and drains ring the reconcile loop; nobody calls it by hand."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import sample, signed
from tests.support.net import free_port
from tests.support.pipeline import payment, pivot_event, rows
from tests.support.processes import Stack, wait_for
from tests.support.redis_server import Monitor, PrivateRedis
from tests.support.standin import StandIn, api_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, standin: StandIn) -> Iterator[Callable[..., Stack]]:
    started: list[Stack] = []

    def start(**overrides: str) -> Stack:
        chosen = {"PAYHOOK_RECONCILE_SCHEDULE": "0.5,0.5,0.5", **overrides}
        env = env_for(settings.queue_prefix, **api_settings(standin.url), **chosen)
        s = Stack(env, free_port(), tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _send(s: Stack, provider: str, body: bytes) -> None:
    sent, headers = signed(provider, body)
    assert httpx.post(f"{s.url}/callbacks/{provider}", content=sent, headers=headers).status_code == 200


def _status(engine: Engine, provider: str, ref: str) -> str | None:
    found = payment(engine, provider, ref)
    return None if found is None else str(found["status"])


def test_a_lost_callback_and_an_unconfirmed_one_are_settled_by_the_workers_alone(
    stack: Callable[..., Stack], served: StandIn, engine: Engine
) -> None:
    s = stack()
    s.web()
    s.worker()
    served.sim("PUT", "/pivot/payments", {"id": "s-1", "clientReferenceId": "ORD-1", "amount": 5000, "status": "PAID"})
    _send(s, "pivot", pivot_event("PAYMENT.PROCESSING", "s-1", "ORD-1", "PROCESSING"))
    settled: dict[str, Any] = json.loads(sample("midtrans.bank_transfer_settlement"))
    served.sim(
        "PUT", "/midtrans/payments",
        {"transaction_id": settled["transaction_id"], "order_id": settled["order_id"],
         "gross_amount": settled["gross_amount"], "transaction_status": "settlement"},
    )  # fmt: skip
    _send(s, "midtrans", json.dumps(settled).encode())
    wait_for(lambda: _status(engine, "pivot", "ORD-1") == "paid", 30, "the lost paid callback found")
    wait_for(lambda: _status(engine, "midtrans", settled["order_id"]) == "paid", 30, "Get Status confirmed")
    reasons = {r.reason: r.result for r in rows(engine, "SELECT reason, result FROM payment_checks")}
    assert reasons == {"schedule": "corrected", "confirm": "confirmed"}


def test_revenue_monster_refunds_are_learned_from_the_daily_report(
    stack: Callable[..., Stack], served: StandIn, engine: Engine
) -> None:
    s = stack()
    s.web()
    doc: dict[str, Any] = json.loads(sample("revenue-monster.payment_web_online"))
    order = doc["data"]["order"]["id"]
    yesterday = datetime.now(timezone(timedelta(hours=8))) - timedelta(days=1)
    created = served.sim(
        "PUT", "/revenue-monster/payments",
        {"orderId": order, "amount": doc["data"]["order"]["amount"], "status": "SUCCESS"},
    )  # fmt: skip
    served.sim(
        "PATCH", f"/revenue-monster/payments/{created['transactionId']}",
        {"status": "FULL_REFUNDED", "refundedAt": yesterday.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
    )  # fmt: skip
    _send(s, "revenue-monster", json.dumps(doc).encode())  # paid: final, no schedule; the report tells
    s.worker()
    wait_for(lambda: _status(engine, "revenue-monster", order) == "refunded", 30, "the refund from the report")
    assert [tuple(r) for r in rows(engine, "SELECT reason, result FROM payment_checks")] == [("report", "corrected")]


def test_two_workers_never_ask_a_provider_more_than_its_rate_in_any_second(
    stack: Callable[..., Stack], served: StandIn, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    # A private Redis, watched: the limiter's reservations (its ZADDs, by Redis's clock) are the starts it allowed.
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        with Monitor(server.port) as monitor:
            s = stack(
                PAYHOOK_PROVIDER_API_RATE="8", PAYHOOK_RECONCILE_SCHEDULE="0.2,0.2,0.2", PAYHOOK_REDIS_URL=server.url
            )
            s.web()
            for i in range(24):
                served.sim(
                    "PUT", "/pivot/payments",
                    {"id": f"r-{i}", "clientReferenceId": f"R-{i}", "amount": 1, "status": "PAID"},
                )  # fmt: skip
                _send(s, "pivot", pivot_event("PAYMENT.PROCESSING", f"r-{i}", f"R-{i}", "PROCESSING"))
            s.worker()
            s.worker()
            wait_for(lambda: all(_status(engine, "pivot", f"R-{i}") == "paid" for i in range(24)), 60, "all 24 paid")
            s.stop()
    finally:
        server.stop()
    key = f"{settings.queue_prefix}:api-rate:pivot"
    starts = sorted(float(c[2]) for c in monitor.commands if c[:2] == ["ZADD", key])
    # The stand-in's arrival times are no measure of the rate: a loaded machine delays some requests and lets
    # them in together (ten within 3 ms). What the stand-in shows is checked against the starts instead: every
    # request went through the limiter and none came before its turn, so the k-th arrival is no earlier than
    # the k-th start. Lua writes a start to 14 digits (0.1 ms here): the comparisons allow for that, no more.
    arrivals = sorted(r["time"] for r in served.requests("pivot"))
    assert 24 <= len(arrivals) <= len(starts)
    assert all(arrived > start - 0.001 for arrived, start in zip(arrivals, starts, strict=False)), (arrivals, starts)
    for i, start in enumerate(starts):
        window = [t for t in starts[i:] if t < start + 0.999]
        assert len(window) <= 8, window
