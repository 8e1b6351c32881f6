"""Delivering the outbox to HTTP endpoints: signed, retried, in order per payment, against a local endpoint
that fails, hangs, answers 410 and Retry-After, redirects and goes away."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.canonical import DeliveryStatus
from shared.db.outbox import DeliveryFilters
from shared.ops.service import OperatorService
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.hooks import Answer, Endpoint, Received
from tests.support.outbox import add_endpoint, deliver_until
from tests.support.pipeline import drain_all, pivot_event, post, rows, scalar

pytestmark = pytest.mark.integration


def _story(web: TestClient, n: int) -> None:
    """``n`` Pivot payments, each processing then paid (two outbox events per payment)."""
    for i in range(n):
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", f"ps-{i}", f"order-{i}", "PROCESSING"))
        post(web, "pivot", pivot_event("PAYMENT.PAID", f"ps-{i}", f"order-{i}", "PAID"))


def _delivered(engine: Engine) -> int:
    return int(scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'delivered'"))


def test_every_change_is_delivered_signed_once(settings: Settings, engine: Engine, web: TestClient) -> None:
    with Endpoint() as hook:
        made = add_endpoint(settings, hook.url)
        _story(web, 5)
        drain_all(settings)
        deliver_until(settings, lambda: _delivered(engine) == 10)
        events = hook.verified(made["secret"])
    assert sorted(e["type"] for e in events) == ["payment.paid"] * 5 + ["payment.processing"] * 5
    assert len({e["id"] for e in events}) == 10
    paid = next(e for e in events if e["type"] == "payment.paid" and e["data"]["order_ref"] == "order-3")
    assert paid["data"]["previous_status"] == "processing"
    assert paid["data"]["status"] == "paid"
    assert paid["data"]["provider"] == "pivot"
    assert paid["data"]["amount"] is not None
    assert paid["data"]["currency"] == "IDR"


def _fast(prefix: str, **overrides: str) -> Settings:
    env = {
        "PAYHOOK_DELIVERY_RETRY_SCHEDULE": ",".join(["0.2"] * 30),
        "PAYHOOK_DELIVERY_TIMEOUT_SECONDS": "0.5",
        "PAYHOOK_DELIVERY_CONNECT_TIMEOUT_SECONDS": "0.5",
    }
    return Settings.from_env(env_for(prefix, **{**env, **overrides}))


def _by_payment(received: list[Received]) -> dict[str, list[dict[str, Any]]]:
    """Each payment's distinct events in the order they first arrived."""
    seen: set[str] = set()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in received:
        event = r.event
        if event["id"] not in seen:
            seen.add(event["id"])
            out[event["data"]["order_ref"]].append(event)
    return out


def test_failures_timeouts_and_an_endpoint_that_goes_away_lose_nothing_and_keep_order(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    fast = _fast(prefix)

    def flaky(_r: Received, n: int) -> Answer:
        if n % 3 == 0:
            return Answer(500, body=b"boom")
        if n % 7 == 0:
            return Answer(delay=1.0)  # longer than the read timeout
        return Answer()

    hook = Endpoint(flaky)
    made = add_endpoint(fast, hook.url)
    _story(web, 15)
    for i in range(15):  # duplicates: they make no event
        post(web, "pivot", pivot_event("PAYMENT.PAID", f"ps-{i}", f"order-{i}", "PAID"))
    drain_all(fast)
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'duplicate'") == 15
    # Away for a while: every attempt is refused, and retried until it comes back.
    comes_back = threading.Timer(1.5, hook.start)
    comes_back.start()
    try:
        deliver_until(fast, lambda: _delivered(engine) == 30)
        events = hook.verified(made["secret"])
    finally:
        comes_back.join()
        hook.stop()
    by_payment = _by_payment(hook.events())
    assert len(by_payment) == 15
    for order_ref, sequence in by_payment.items():
        assert [e["type"] for e in sequence] == ["payment.processing", "payment.paid"], order_ref
    # At least once, never with different content: every copy of an event is byte for byte the same.
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for r in hook.events():
        bodies[r.headers["webhook-id"]].add(r.body)
    assert all(len(b) == 1 for b in bodies.values())
    assert len(events) >= 30
    assert scalar(engine, "SELECT count(*) FROM outbox_events") == 30
    errors = {
        r.error.split(" ")[0] for r in rows(engine, "SELECT error FROM delivery_attempts WHERE error IS NOT NULL")
    }
    assert {"could", "timed"} <= errors
    assert scalar(engine, "SELECT count(*) FROM delivery_attempts WHERE status_code = 500") > 0
    assert rows(engine, "SELECT response FROM delivery_attempts WHERE status_code = 500 LIMIT 1")[0].response == "boom"


def test_retry_after_sets_the_earliest_next_attempt(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    fast = _fast(prefix)
    with Endpoint(lambda _r, n: Answer(503, {"Retry-After": "30"}) if n == 0 else Answer()) as hook:
        add_endpoint(fast, hook.url)
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-ra", "order-ra", "PAID"))
        drain_all(fast)
        deliver_until(fast, lambda: len(hook.events()) == 1)
    delivery = rows(engine, "SELECT status, next_attempt_at, last_attempt_at, last_status_code FROM deliveries")[0]
    assert (delivery.status, delivery.last_status_code) == ("pending", 503)
    assert (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() >= 29.9


def test_410_disables_the_endpoint_and_enabling_it_sends_what_waited(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    fast = _fast(prefix)
    gone = True
    with Endpoint(lambda _r, _n: Answer(410) if gone else Answer()) as hook:
        made = add_endpoint(fast, hook.url)
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-410", "order-410", "PAID"))
        drain_all(fast)
        deliver_until(fast, lambda: len(hook.events()) == 1)
        ops = OperatorService(fast, pool_size=1)
        try:
            endpoint = ops.endpoint(made["id"])
            assert endpoint is not None
            assert not endpoint["enabled"]
            assert "410" in endpoint["disabled_reason"]
            # Disabled: later events are not made for it, and nothing is sent.
            post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-410b", "order-410b", "PAID"))
            drain_all(fast)
            assert scalar(engine, "SELECT count(*) FROM deliveries") == 1
            gone = False
            ops.change_endpoint(made["id"], {"enabled": True}, actor="test")
        finally:
            ops.close()
        deliver_until(fast, lambda: _delivered(engine) == 1)
        assert [r.event["data"]["order_ref"] for r in hook.events()] == ["order-410", "order-410"]


def test_a_spent_schedule_fails_the_delivery_and_a_retry_sends_it(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    fast = _fast(prefix, PAYHOOK_DELIVERY_RETRY_SCHEDULE="0.1,0.1")
    healthy = False
    with Endpoint(lambda _r, _n: Answer() if healthy else Answer(302, {"Location": "http://127.0.0.1:9/"})) as hook:
        add_endpoint(fast, hook.url)
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "ps-f", "order-f", "PROCESSING"))
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-f", "order-f", "PAID"))
        drain_all(fast)
        # The first is given up after three attempts (redirects are not followed); the second, waiting behind
        # it, goes next and fails the same way.
        deliver_until(fast, lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'failed'") == 2)
        assert scalar(engine, "SELECT count(*) FROM delivery_attempts WHERE status_code = 302") == 6
        assert [r.event["type"] for r in hook.events()] == ["payment.processing"] * 3 + ["payment.paid"] * 3
        healthy = True
        ops = OperatorService(fast, pool_size=1)
        try:
            failed = ops.matching_deliveries(DeliveryFilters(status=DeliveryStatus.FAILED))
            assert ops.retry_deliveries(failed, actor="test") == failed
        finally:
            ops.close()
        deliver_until(fast, lambda: _delivered(engine) == 2)
        assert [r.event["type"] for r in hook.events()[6:]] == ["payment.processing", "payment.paid"]


def test_a_slow_endpoint_does_not_hold_up_another(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    fast = _fast(prefix, PAYHOOK_DELIVERY_CONCURRENCY="2", PAYHOOK_DELIVERY_TIMEOUT_SECONDS="5")
    with Endpoint(lambda _r, _n: Answer(delay=0.5)) as slow, Endpoint() as quick:
        slow_id = add_endpoint(fast, slow.url)["id"]
        quick_id = add_endpoint(fast, quick.url)["id"]
        _story(web, 10)
        drain_all(fast)

        deliver_until(fast, lambda: _delivered(engine) == 40)
        # Every quick delivery arrived before the slow endpoint, two at a time and half a second each, had got
        # half of its own.
        slow_arrivals = sorted(r.at for r in slow.events())
        assert max(r.at for r in quick.events()) < slow_arrivals[10]
        assert max(_in_flight_peak(slow.events())) <= 2
        assert {e: n for e, n in rows(engine, "SELECT endpoint_id, count(*) FROM deliveries GROUP BY 1")} == {
            slow_id: 20,
            quick_id: 20,
        }


def _in_flight_peak(received: list[Received]) -> list[int]:
    """How many requests the slow endpoint held at once, at each arrival (each is held 0.5 s)."""
    times = sorted(r.at for r in received)
    return [sum(1 for t in times if at - 0.45 < t <= at) for at in times]


def test_filters_choose_what_an_endpoint_gets_and_new_endpoints_get_only_new_events(
    settings: Settings, engine: Engine, web: TestClient
) -> None:
    with Endpoint() as paid_only, Endpoint() as other_provider, Endpoint() as late:
        add_endpoint(settings, paid_only.url, events=["payment.paid"], provider="pivot")
        add_endpoint(settings, other_provider.url, provider="midtrans")
        _story(web, 3)
        drain_all(settings)
        add_endpoint(settings, late.url)
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "ps-late", "order-late", "PROCESSING"))
        drain_all(settings)
        deliver_until(settings, lambda: _delivered(engine) == 4)
        assert sorted(r.event["data"]["order_ref"] for r in paid_only.events()) == ["order-0", "order-1", "order-2"]
        assert other_provider.events() == []
        assert [r.event["data"]["order_ref"] for r in late.events()] == ["order-late"]


def test_an_endpoint_removed_while_its_attempt_is_in_flight_leaves_the_loop_standing(
    settings: Settings, engine: Engine, web: TestClient
) -> None:
    import os
    from datetime import UTC, datetime

    from workers.context import WorkerContext
    from workers.delivery import store

    made = add_endpoint(settings, "http://127.0.0.1:9/hooks")
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-rm", "order-rm", "PAID"))
    drain_all(settings)
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        with ctx.sessions.begin() as session:
            [claimed] = store.claim(session, ctx.sealer, limit=10, per_endpoint=4, lease_seconds=30)
        ops = OperatorService(settings, pool_size=1)
        try:
            assert ops.remove_endpoint(made["id"], actor="test")
        finally:
            ops.close()
        with ctx.sessions.begin() as session:
            recorded = store.record(session, [store.Result(claimed, datetime.now(UTC), 3.0, 200)], (1.0,))
        assert recorded.results["delivered"] == 1
    finally:
        ctx.close()
    assert scalar(engine, "SELECT count(*) FROM delivery_attempts") == 0


def test_deliveries_to_loopback_are_refused_at_the_attempt_unless_private_endpoints_are_allowed(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    """Endpoints added while private ones were allowed, delivered by a worker where they are not: each attempt
    is refused on the address it would connect to, whether the URL names it, spells it in hex or names a host
    that resolves to it. Allowed again, a retry delivers."""
    strict = _fast(prefix, PAYHOOK_ENDPOINT_ALLOW_PRIVATE="false", PAYHOOK_DELIVERY_RETRY_SCHEDULE="0.1")
    with Endpoint() as hook:
        for host in ("127.0.0.1", "localhost", "0x7f000001"):
            add_endpoint(settings, f"http://{host}:{hook.port}/hooks")
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-lo", "order-lo", "PAID"))
        drain_all(settings)
        deliver_until(strict, lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'failed'") == 3)
        assert hook.events() == []
        errors = [r.error for r in rows(engine, "SELECT error FROM delivery_attempts")]
        assert len(errors) == 6
        assert all(e.startswith("refused: ") and "loopback" in e and "ALLOW_PRIVATE" in e for e in errors), errors
        ops = OperatorService(settings, pool_size=1)
        try:
            failed = ops.matching_deliveries(DeliveryFilters(status=DeliveryStatus.FAILED))
            assert ops.retry_deliveries(failed, actor="test") == failed
        finally:
            ops.close()
        deliver_until(settings, lambda: _delivered(engine) == 3)
        assert len(hook.events()) == 3
