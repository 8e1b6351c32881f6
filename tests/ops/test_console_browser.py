"""The console end to end in a real browser: Debian's chromium driven by Playwright, against the Procfile's
web and worker processes. Sign in onto the Overview (its charts), filter, open a letter, dry run, replay one,
bulk-replay a filter, look a payment up, see the audit entry; search payments, open a delivery's attempts; a
wrong token, an expired session, a forged form post and a cross-site request are refused. Screenshots at
desktop (1280 px) and phone (390 px) widths go to ``$PAYHOOK_SCREENSHOTS`` when set, else to a pytest temporary
directory (its path is printed)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any, cast

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from redis import Redis
from sqlalchemy import Engine

from shared import liveness
from shared.db import dead_letters as dlq
from shared.ops.console.session import COOKIE, ConsoleSessions
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import signed
from tests.support.hooks import Answer, Endpoint
from tests.support.net import free_port
from tests.support.outbox import add_endpoint
from tests.support.pipeline import pivot_event, scalar
from tests.support.processes import Stack, wait_for
from workers.context import WorkerContext

pytestmark = pytest.mark.integration
TOKEN = "alice-browser-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("PAYHOOK_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make tools` (scripts/test-tools.sh) installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(env_for(settings.queue_prefix, PAYHOOK_ADMIN_TOKENS=f"alice:{TOKEN}"), free_port(), tmp_path)
    try:
        running.web()
        running.worker()
        yield running
    finally:
        running.stop()


def _letters(settings: Settings, stack: Stack) -> None:
    """Five letters missing fields (they would fail again), and one a crashed worker left (it would apply)."""
    with httpx.Client(base_url=stack.url) as http:
        for i in range(5):
            body, headers = signed(
                "pivot", b'{"event": "PAYMENT.PAID", "data": {"clientReferenceId": "broken-%d"}}' % i
            )
            assert http.post("/callbacks/pivot", content=body, headers=headers).status_code == 200
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        with ctx.sessions.begin() as session:
            body = pivot_event("PAYMENT.PAID", "ps-browser", "order-browser", "PAID")
            callback = QueuedCallback(
                "pivot", body, {"content-type": "application/json"}, datetime.now(UTC).timestamp()
            )
            dlq.record(session, [dlq.Rejected("7-1", callback, "crashed_worker", "the worker died")], ctx.sealer)
    finally:
        ctx.close()


def shot(folder: Path, page: Page, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_an_operator_works_the_console_in_a_browser(
    browser: Browser, stack: Stack, settings: Settings, engine: Engine, artifacts: Path
) -> None:
    _letters(settings, stack)
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM dead_letters") == 6, 30, "six dead letters")
    # The worker's tick marks it alive once it runs (late on a loaded machine): the page must find it so.
    redis = Redis.from_url(settings.redis_url)
    wait_for(lambda: liveness.alive(redis, QueueKeys(settings.queue_prefix)) == 1, 60, "the worker alive")
    redis.close()
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()

    page.goto("/console/")
    expect(page.get_by_label("Admin token")).to_be_visible()
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("header")).to_contain_text("alice")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.get_by_role("img", name="Callbacks committed per minute, by outcome")).to_contain_text(
        "dead_letter (5)"
    )
    expect(page.locator('td[data-result="dead_letter"]')).to_have_text("5")
    expect(page.locator(".stage").filter(has_text="Dead letters waiting").locator(".stage-value")).to_have_text("6")
    expect(page.locator(".stage").filter(has_text="Workers alive").locator(".stage-value")).to_have_text("1")
    assert page.locator("script").count() == 0
    shot(artifacts, page, "00-overview")
    page.get_by_role("link", name="Dead letters").click()
    expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()
    shot(artifacts, page, "01-dead-letters")

    page.get_by_label("Reason", exact=True).fill("crashed_worker")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.locator("tbody tr a").first.click()
    expect(page.locator("pre.body")).to_contain_text('"clientReferenceId": "order-browser"')
    page.get_by_role("button", name="Dry run").click()
    expect(page.get_by_label("Dry run")).to_contain_text("applied")
    expect(page.get_by_label("Dry run")).to_contain_text("new → paid")
    shot(artifacts, page, "02-letter-dry-run")
    page.get_by_role("button", name="Replay", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Replayed")

    page.goto("/console/dead-letters?reason=missing_field")
    expect(page.locator("tbody tr")).to_have_count(5)
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("main")).to_contain_text("nothing was changed")
    expect(page.locator(".counts")).to_contain_text("dead_letter 5")
    page.get_by_role("button", name="Replay these 5").click()
    expect(page.get_by_role("heading", name="Job")).to_contain_text("done", timeout=30_000)
    expect(page.locator(".progress-text")).to_contain_text("5 of 5 processed, 5 replayed")
    shot(artifacts, page, "03-bulk-replay-job")

    page.get_by_role("link", name="Payments").click()
    page.get_by_label("Provider").select_option("pivot")
    page.get_by_label("Order reference").fill("order-browser")
    for _ in range(40):  # the worker applies the replayed callback
        page.get_by_role("button", name="Search").click()
        if page.locator("tbody a.ref").filter(has_text="order-browser").count():
            break
        time.sleep(0.25)
    page.locator("tbody a.ref").filter(has_text="order-browser").click()
    expect(page.locator("h1")).to_contain_text("paid")
    expect(page.locator("tbody").first).to_contain_text("applied")
    shot(artifacts, page, "04-payment")

    page.get_by_role("link", name="Audit").click()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("alice")
    expect(page.locator("tbody")).to_contain_text("job 1 done: replayed 5 of 5")
    expect(page.locator("tbody")).to_contain_text("dlq.replay (dry run)")
    shot(artifacts, page, "05-audit")

    phone = browser.new_context(
        base_url=stack.url, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    phone.add_cookies(cast(Any, context.cookies()))
    small = phone.new_page()
    small.goto("/console/dead-letters")
    expect(small.get_by_role("heading", name="Dead letters")).to_be_visible()
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(artifacts, small, "06-phone")
    small.goto("/console/")
    expect(small.locator("svg.chart")).to_have_count(3)
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(artifacts, small, "06-phone-overview")
    phone.close()
    context.close()


def test_the_browser_is_refused_forged_cross_site_and_expired(
    browser: Browser, stack: Stack, settings: Settings, redis: Redis, artifacts: Path
) -> None:
    context = browser.new_context(base_url=stack.url)
    page = context.new_page()
    page.goto("/console/sign-in")
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # A forged form post: the session cookie, but no CSRF token.
    forged = page.request.post(f"{stack.url}/console/dead-letters/replay", form={"reason": "x"})
    assert forged.status == 403 and "CSRF" in forged.text()

    # A page on another origin posts a form to the console: refused (no cookie crosses, and the Origin is not ours).
    evil = _evil_site(stack.url)
    page.goto(evil)
    with page.expect_response(lambda r: "/console/" in r.url) as answer:
        page.get_by_role("button", name="Win a prize").click()
    assert answer.value.status == 403
    shot(artifacts, page, "07-cross-site-refused")

    # A session past its lifetime: back to sign in.
    sessions = ConsoleSessions({TOKEN: "alice"}, redis, settings.queue_prefix)
    fresh = sessions.sign_in(TOKEN)
    assert fresh is not None
    old = dataclasses.replace(fresh, issued=time.time() - sessions.lifetime - 60)
    host = stack.url.split("//")[1].split(":")[0]
    context.add_cookies([_cookie(sessions.cookie(old), host)])
    page.goto(f"{stack.url}/console/dead-letters")
    expect(page.get_by_role("alert")).to_contain_text("expired")
    assert page.url.endswith("/console/sign-in?reason=expired")
    context.close()


def _paid_behind_a_busy_endpoint(settings: Settings, stack: Stack, engine: Engine) -> None:
    """Three paid payments with long, hyphenated references; their events go to an endpoint that answers 503."""
    busy = Answer(status=503, body=b'{"error": "busy, try again later"}')
    with Endpoint(lambda _r, _n: busy) as hook:
        add_endpoint(settings, hook.url)
        with httpx.Client(base_url=stack.url) as http:
            for i in range(3):
                event = pivot_event("PAYMENT.PAID", f"ps-long-{i}", f"ORDER-2026-12-LONG-REFERENCE-{i}", "PAID")
                body, headers = signed("pivot", event)
                assert http.post("/callbacks/pivot", content=body, headers=headers).status_code == 200
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM delivery_attempts") >= 1, 60, "a delivery attempt")


ONE_ROW = """() => { const boxes = [...document.querySelectorAll('.filters > *')].map(e => e.getBoundingClientRect())
  .filter(b => b.width > 0);
  return Math.max(...boxes.map(b => b.top)) < Math.min(...boxes.map(b => b.bottom)); }"""
REFS_UNBROKEN = "() => [...document.querySelectorAll('tbody a.ref')].every(a => a.getClientRects().length === 1)"
# Against the phone's width itself: a mobile browser zooms out to show a page wider than the screen.
FITS = "() => document.documentElement.scrollWidth <= 391"
SCROLLS = "() => [...document.querySelectorAll('.scroll')].some(s => s.scrollWidth > s.clientWidth)"


def test_payments_search_delivery_attempts_and_the_phone_layout(
    browser: Browser, stack: Stack, settings: Settings, engine: Engine, artifacts: Path
) -> None:
    _paid_behind_a_busy_endpoint(settings, stack, engine)
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/console/sign-in")
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("link", name="Dead letters").click()
    assert page.evaluate(ONE_ROW), "the dead letters' filters wrap at 1280 px"

    page.get_by_role("link", name="Payments").click()
    assert page.evaluate(ONE_ROW), "the payments' filters wrap at 1280 px"
    page.get_by_label("Status").select_option("paid")
    page.get_by_label("Order reference").fill("ORDER-2026-12-LONG")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    assert page.evaluate(REFS_UNBROKEN)
    shot(artifacts, page, "08-payments-search-desktop")
    page.locator("tbody a.ref").first.click()
    expect(page.get_by_role("button", name="Check with provider")).to_be_visible()
    expect(page.locator("tbody").first).to_contain_text("applied")

    page.get_by_role("link", name="Deliveries").click()
    page.locator('tbody a[href^="/console/deliveries/"]').first.click()
    expect(page.get_by_role("heading", name="Delivery")).to_be_visible()
    expect(page.locator("tbody")).to_contain_text("503")
    expect(page.locator("pre.answer").first).to_contain_text("busy, try again later")
    shot(artifacts, page, "09-delivery-attempts-desktop")
    delivery = page.url

    phone = browser.new_context(
        base_url=stack.url, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    phone.add_cookies(cast(Any, context.cookies()))
    small = phone.new_page()
    small.goto("/console/payments?order_ref=ORDER-2026-12-LONG")
    expect(small.locator("tbody tr")).to_have_count(3)
    assert small.evaluate(FITS), "the page is wider than the phone"
    assert small.evaluate(SCROLLS), "no table scrolls sideways: columns are clipped or squeezed"
    assert small.evaluate(REFS_UNBROKEN)
    shot(artifacts, small, "10-payments-phone")
    small.goto(delivery)
    assert small.evaluate(FITS)
    shot(artifacts, small, "11-delivery-attempts-phone")
    phone.close()
    context.close()


def _cookie(value: str, host: str) -> Any:
    return {"name": COOKIE, "value": value, "domain": host, "path": "/console", "httpOnly": True, "sameSite": "Strict"}


def _evil_site(console_url: str) -> str:
    form = (
        f'<form method="post" action="{console_url}/console/dead-letters/purge">'
        '<input name="csrf" value="guessed"><input name="confirm" value="purge">'
        "<button>Win a prize</button></form>"
    ).encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(form)))
            self.end_headers()
            self.wfile.write(form)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    Thread(target=server.serve_forever, daemon=True).start()
    # "localhost" and 127.0.0.1 are different sites to the browser: the evil page is cross-site for real.
    return f"http://localhost:{server.server_address[1]}/"
