"""Python handlers under the entry-point group ``payhook.handlers``: the README's example in a real worker,
and a failing handler retried with the same ordering and visibility as an endpoint."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import signed
from tests.support.net import free_port
from tests.support.outbox import deliver_until
from tests.support.pipeline import drain_all, pivot_event, post, rows, scalar
from tests.support.processes import ROOT, Stack, wait_for
from workers.delivery import handlers as registry

pytestmark = pytest.mark.integration


def _readme_handler() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- example-handler -->\s*```python\n(.*?)```", readme, re.DOTALL)
    assert found, "README.md has no example handler"
    return found.group(1)


@pytest.fixture
def merchant(engine: Engine, tmp_path: Path) -> Iterator[Path]:
    """The merchant's package, installed as a distribution with its entry point; its orders table."""
    (tmp_path / "merchant_hooks.py").write_text(_readme_handler())
    info = tmp_path / "merchant_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: merchant-hooks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[payhook.handlers]\nmark-orders = merchant_hooks:mark_order\n")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS orders"))
        conn.execute(text("CREATE TABLE orders (reference text PRIMARY KEY, status text, payhook_event text)"))
        conn.execute(text("INSERT INTO orders SELECT 'order-h' || n, 'new', NULL FROM generate_series(0, 9) n"))
    yield tmp_path
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS orders"))


def test_the_readme_handler_marks_orders_paid_in_a_real_worker(
    settings: Settings, engine: Engine, merchant: Path, tmp_path: Path
) -> None:
    libpq = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    stack = Stack(
        env_for(settings.queue_prefix, PYTHONPATH=str(merchant), MERCHANT_DATABASE_URL=libpq), free_port(), tmp_path
    )
    try:
        stack.web()
        stack.worker()
        # The worker registers the handlers it has when it starts.
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM endpoints WHERE kind = 'handler'") == 1, 30, "handler")
        with httpx.Client(base_url=stack.url) as http:
            for i in range(10):
                for event, status in (("PAYMENT.PROCESSING", "PROCESSING"), ("PAYMENT.PAID", "PAID")):
                    body, headers = signed("pivot", pivot_event(event, f"ps-h{i}", f"order-h{i}", status))
                    assert http.post("/callbacks/pivot", content=body, headers=headers).status_code == 200
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM orders WHERE status = 'paid'") == 10, 60, "orders paid")
        wait_for(
            lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == 20, 30, "deliveries"
        )
    finally:
        stack.stop()
    handler = rows(engine, "SELECT handler, url FROM endpoints")[0]
    assert (handler.handler, handler.url) == ("mark-orders", None)
    marked = rows(
        engine, "SELECT o.payhook_event, e.type FROM orders o JOIN outbox_events e ON e.event_id = o.payhook_event"
    )
    assert {m.type for m in marked} == {"payment.paid"} and len(marked) == 10


def test_a_failing_handler_is_retried_in_order_and_its_errors_are_visible(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    fast = Settings.from_env(env_for(prefix, PAYHOOK_DELIVERY_RETRY_SCHEDULE="0.1,0.1,0.1,0.1,0.1"))
    seen: list[tuple[str, str]] = []
    failures = {"n": 0}

    def flaky(event: dict[str, Any]) -> None:
        if failures["n"] < 2:
            failures["n"] += 1
            raise ConnectionError("the merchant's database is restarting")
        seen.append((event["data"]["order_ref"], event["type"]))

    with engine.begin() as conn:
        registry.register(conn, ["flaky"])  # type: ignore[arg-type]
    post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "ps-f", "order-f", "PROCESSING"))
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-f", "order-f", "PAID"))
    drain_all(fast)
    deliver_until(fast, lambda: len(seen) == 2, handlers={"flaky": lambda: flaky})
    assert seen == [("order-f", "payment.processing"), ("order-f", "payment.paid")]
    errors = [r.error for r in rows(engine, "SELECT error FROM delivery_attempts WHERE error IS NOT NULL ORDER BY id")]
    assert len(errors) == 2
    assert errors[0].startswith("ConnectionError: the merchant's database is restarting")
    assert "Traceback" in errors[0]
