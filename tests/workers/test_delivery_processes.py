"""Delivery in the Procfile's real processes: a worker SIGKILLed while it delivers loses nothing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import signed
from tests.support.hooks import Answer, Endpoint
from tests.support.net import free_port
from tests.support.outbox import add_endpoint
from tests.support.pipeline import pivot_event, scalar
from tests.support.processes import Stack, wait_for

pytestmark = pytest.mark.integration

FAST = {
    "PAYHOOK_DELIVERY_TIMEOUT_SECONDS": "1",
    "PAYHOOK_DELIVERY_CONNECT_TIMEOUT_SECONDS": "1",
    "PAYHOOK_DELIVERY_CONCURRENCY": "4",
    "PAYHOOK_DELIVERY_RETRY_SCHEDULE": "0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
}


def test_worker_sigkills_during_delivery_lose_nothing(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    env = env_for(settings.queue_prefix, **FAST)
    stack = Stack(env, free_port(), tmp_path)
    with Endpoint(lambda _r, _n: Answer(delay=0.2)) as hook:
        made = add_endpoint(Settings.from_env(env), hook.url)
        try:
            stack.web()
            first = stack.worker()
            with httpx.Client(base_url=stack.url) as http:
                for i in range(30):
                    for event, status in (("PAYMENT.PROCESSING", "PROCESSING"), ("PAYMENT.PAID", "PAID")):
                        body, headers = signed("pivot", pivot_event(event, f"ps-k{i}", f"order-k{i}", status))
                        assert http.post("/callbacks/pivot", content=body, headers=headers).status_code == 200
            wait_for(lambda: len(hook.events()) >= 10, 60, "the first deliveries")
            Stack.kill(first)  # mid-delivery: attempts in flight, their results never recorded
            stack.worker()
            wait_for(
                lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == 60,
                120,
                "every delivery",
            )
        finally:
            stack.stop()
        events = hook.verified(made["secret"])
    assert len({e["id"] for e in events}) == 60
    assert scalar(engine, "SELECT count(*) FROM outbox_events") == 60
    bodies: dict[str, set[bytes]] = defaultdict(set)
    first_seen: dict[str, list[str]] = defaultdict(list)
    for r in hook.events():
        event_id = r.headers["webhook-id"]
        if not bodies[event_id]:
            first_seen[r.event["data"]["order_ref"]].append(r.event["type"])
        bodies[event_id].add(r.body)
    assert all(len(b) == 1 for b in bodies.values())
    assert all(types == ["payment.processing", "payment.paid"] for types in first_seen.values()), first_seen
