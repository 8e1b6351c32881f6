"""The console's sections over HTTP: payments listed and searched in keyset pages, one payment checked with
its provider (audited), unresolved payments, each delivery's attempts, accounts shown by fingerprint and
disabled or enabled (audited), and the favicon."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.ops.service import OperatorService
from shared.settings import Settings
from tests.conftest import env_for
from tests.ops.conftest import TOKENS
from tests.ops.test_console import csrf_of, sign_in
from tests.support.hooks import Answer, Endpoint
from tests.support.outbox import add_endpoint, deliver_until
from tests.support.pipeline import drain_all, pivot_event, post, rows, scalar
from tests.support.standin import StandIn, api_settings, serve_standin

pytestmark = pytest.mark.integration
REF = re.compile(r'<a class="ref" href="[^"]*">([^<]+)</a>')


def _payments(engine: Engine) -> None:
    """120 payments an hour apart from 2026-11-01, and two whose references differ after a literal "%"."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO payments (provider, account, payment_key, order_ref, status, created_at, updated_at) "
                "SELECT CASE WHEN i % 2 = 0 THEN 'pivot' ELSE 'midtrans' END, "
                "CASE WHEN i % 3 = 0 THEN 'shop-b' ELSE 'default' END, 'key-' || i, "
                "'ord-2026-' || lpad(i::text, 3, '0'), CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'paid' END, "
                "timestamptz '2026-11-01T00:00Z' + i * interval '1 hour', now() FROM generate_series(1, 120) AS i"
            )
        )
        connection.execute(
            text(
                "INSERT INTO payments (provider, payment_key, order_ref, status, created_at) VALUES "
                "('pivot', 'k-pct', 'ord-50%-x', 'pending', '2026-10-01Z'), "
                "('pivot', 'k-50a', 'ord-50abc', 'pending', '2026-10-02Z')"
            )
        )


def _refs(page: str) -> list[str]:
    return [unescape(r) for r in REF.findall(page)]


def _all_pages(console: TestClient, url: str) -> list[str]:
    found: list[str] = []
    while url:
        page = console.get(url)
        assert page.status_code == 200, page.text[:300]
        found += _refs(page.text)
        more = re.search(r'<a class="next" href="([^"]+)">', page.text)
        url = unescape(more.group(1)) if more else ""
    return found


def test_payments_are_searched_newest_first_in_keyset_pages(console: TestClient, engine: Engine) -> None:
    _payments(engine)
    sign_in(console)
    every = _all_pages(console, "/console/payments")
    assert every == [f"ord-2026-{i:03d}" for i in range(120, 0, -1)] + ["ord-50abc", "ord-50%-x"]
    searches = {
        "provider=pivot&account=shop-b&status=failed": ["ord-2026-120", "ord-2026-090", "ord-2026-060", "ord-2026-030"],
        "order_ref=ord-2026-01": [f"ord-2026-{i:03d}" for i in range(19, 9, -1)],
        "since=2026-11-01T10:00&until=2026-11-01T13:00Z": ["ord-2026-012", "ord-2026-011", "ord-2026-010"],
        "order_ref=ord-50%25": ["ord-50%-x"],  # "%" is a character of the reference, not a wildcard
        "status=refunded": [],
    }
    for query, expected in searches.items():
        assert _all_pages(console, f"/console/payments?{query}") == expected, query
    exact = console.get("/console/payments?provider=midtrans&account=shop-b&order_ref=ord-2026-003")
    assert "Exactly this reference" in exact.text
    shown = console.get("/console/payments/show?provider=midtrans&account=shop-b&order_ref=ord-2026-003")
    assert shown.status_code == 200 and "Check with provider" in shown.text and "shop-b" in shown.text


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serve_standin() as running, httpx.Client(base_url=running.url, timeout=10) as client:
        yield StandIn(running.url, client)


@pytest.fixture
def asking(settings: Settings, standin: StandIn) -> Iterator[TestClient]:
    """The console of a deployment whose status clients point at the providers' stand-in."""
    chosen = Settings.from_env(env_for(settings.queue_prefix, **api_settings(standin.url)))
    app = create_app(dataclasses.replace(chosen, admin_tokens=TOKENS), ring=False)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def test_check_with_provider_applies_its_answer_and_is_audited(
    asking: TestClient, standin: StandIn, settings: Settings, engine: Engine
) -> None:
    post(asking, "pivot", pivot_event("PAYMENT.PROCESSING", "s-check", "ORD-CHECK", "PROCESSING"))
    drain_all(settings)
    standin.sim(
        "PUT", "/pivot/payments", {"id": "s-check", "clientReferenceId": "ORD-CHECK", "amount": 10, "status": "PAID"}
    )
    csrf = sign_in(asking)
    form = {"provider": "pivot", "account": "default", "order_ref": "ORD-CHECK"}
    assert asking.post("/console/payments/check", data=form).status_code == 403  # no CSRF token
    page = asking.post("/console/payments/check", data={**form, "csrf": csrf})
    assert page.status_code == 200, page.text[:300]
    assert "corrected" in page.text and "processing → paid" in page.text
    assert scalar(engine, "SELECT status FROM payments WHERE order_ref = 'ORD-CHECK'") == "paid"
    trail = rows(engine, "SELECT actor, action, target FROM audit_log")
    assert [(r.actor, r.action, r.target) for r in trail] == [("alice", "reconcile", "pivot:ORD-CHECK")]
    refused = asking.post("/console/payments/check", data={**form, "order_ref": "ORD-NOBODY", "csrf": csrf})
    assert refused.status_code == 404  # no such payment: the console's page


def test_unresolved_payments_are_listed_with_a_check_button(console: TestClient, engine: Engine) -> None:
    _payments(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE payments SET status = 'pending', unresolved_at = now() WHERE id <= 2"))
    sign_in(console)
    page = console.get("/console/unresolved")
    assert _refs(page.text) == ["ord-2026-001", "ord-2026-002"]
    assert page.text.count("Check with provider") == 2
    assert _refs(console.get("/console/unresolved?provider=pivot").text) == ["ord-2026-002"]


def test_each_delivery_opens_its_attempts(console: TestClient, settings: Settings, engine: Engine) -> None:
    busy = Answer(status=503, body=b"busy " * 400)
    with Endpoint(lambda _r, _n: busy) as hook:
        add_endpoint(settings, hook.url)
        post(console, "pivot", pivot_event("PAYMENT.PAID", "s-d", "ORD-D", "PAID"))
        drain_all(settings)
        deliver_until(settings, lambda: scalar(engine, "SELECT count(*) FROM delivery_attempts") >= 1)
    delivery_id = scalar(engine, "SELECT delivery_id FROM delivery_attempts")
    sign_in(console)
    assert f'href="/console/deliveries/{delivery_id}"' in console.get("/console/deliveries").text
    page = console.get(f"/console/deliveries/{delivery_id}")
    assert page.status_code == 200
    assert "503" in page.text and " ms" in page.text and "busy busy" in page.text and "payment.paid" in page.text
    shown = re.search(r'<pre class="answer">([^<]*)</pre>', page.text)
    assert shown is not None and 0 < len(shown.group(1)) <= 1024  # the first KB of the answer
    assert console.get("/console/deliveries/999999").status_code == 404


def test_accounts_show_fingerprints_and_are_disabled_and_enabled(
    console: TestClient, settings: Settings, engine: Engine
) -> None:
    ops = OperatorService(settings, pool_size=1)
    try:
        ops.add_account("pivot", "shop-b", {"callback_key": "very-secret-key-1"}, actor="test")
    finally:
        ops.close()
    csrf = sign_in(console)
    listed = console.get("/console/accounts")
    assert "shop-b" in listed.text and "/callbacks/pivot/shop-b" in listed.text
    shown = console.get("/console/accounts/pivot/shop-b")
    assert "sha256:" in shown.text and "very-secret-key-1" not in shown.text
    assert console.post("/console/accounts/pivot/shop-b/disable", data={}).status_code == 403
    done = console.post("/console/accounts/pivot/shop-b/disable", data={"csrf": csrf})
    assert done.headers["location"] == "/console/accounts/pivot/shop-b?message=disabled"
    assert scalar(engine, "SELECT enabled FROM accounts") is False
    assert "Enable" in console.get(done.headers["location"]).text
    console.post("/console/accounts/pivot/shop-b/enable", data={"csrf": csrf_of(shown.text)})
    assert scalar(engine, "SELECT enabled FROM accounts") is True
    trail = [(r.actor, r.action) for r in rows(engine, "SELECT actor, action FROM audit_log ORDER BY id")]
    assert trail == [("test", "account_add"), ("alice", "account_disable"), ("alice", "account_enable")]
    assert console.get("/console/accounts/pivot/nobody").status_code == 404


def test_the_favicon_is_served_by_payhook(console: TestClient) -> None:
    icon = console.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
    assert console.get("/console/static/favicon.svg").content == icon.content
    assert 'rel="icon" href="/console/static/favicon.svg"' in console.get("/console/sign-in").text
