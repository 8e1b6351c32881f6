"""The console over HTTP: sign-in into an HttpOnly SameSite=Strict cookie, CSRF on every form, cross-site
requests refused, expired sessions sent back to sign in, every section rendered. (The browser test is
``test_console_browser.py``.)"""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
from redis import Redis
from starlette.testclient import TestClient

from shared.ops.console.session import COOKIE, ConsoleSessions
from shared.settings import Settings
from tests.support.pipeline import drain_all, pivot_event, post

pytestmark = pytest.mark.integration


def sign_in(client: TestClient, token: str = "alice-console-token") -> str:
    answer = client.post("/console/sign-in", data={"token": token})
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/console/dead-letters").text)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_the_console_is_404_without_an_admin_token(web: TestClient) -> None:
    assert web.get("/console/sign-in").status_code == 404


def test_sign_in_sets_a_strict_http_only_cookie_and_a_wrong_token_is_refused(console: TestClient) -> None:
    assert console.get("/console/dead-letters").headers["location"] == "/console/sign-in"
    page = console.get("/console/sign-in")
    assert 'type="password"' in page.text and "Admin token" in page.text and "Sign in" in page.text
    wrong = console.post("/console/sign-in", data={"token": "nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.text and COOKIE not in wrong.headers.get("set-cookie", "")
    right = console.post("/console/sign-in", data={"token": "alice-console-token"})
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert right.headers["location"] == "/console/"
    assert "alice" in console.get("/console/dead-letters").text
    headers = console.get("/console/dead-letters").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"


def test_forms_need_the_csrf_token_and_cross_site_posts_are_refused(console: TestClient, settings: Settings) -> None:
    post(console, "pivot", b"{broken")
    drain_all(settings)
    csrf = sign_in(console)
    forged = console.post("/console/dead-letters/1/replay", data={})
    assert forged.status_code == 403 and "CSRF" in forged.json()["message"]
    wrong = console.post("/console/dead-letters/1/replay", data={"csrf": ("y" if csrf[0] == "x" else "x") + csrf[1:]})
    assert wrong.status_code == 403
    cross = console.post(
        "/console/dead-letters/1/replay", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "cross-site" in cross.json()["message"]
    fetch_meta = console.post(
        "/console/dead-letters/1/replay", data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetch_meta.status_code == 403
    # Behind a proxy that ends TLS the page's origin is https while the request is http: same host, allowed.
    done = console.post("/console/dead-letters/1/replay", data={"csrf": csrf}, headers={"Origin": "https://testserver"})
    assert done.status_code == 303 and done.headers["location"] == "/console/dead-letters/1?message=replayed"


def test_an_expired_session_goes_back_to_sign_in(console: TestClient, settings: Settings, redis: Redis) -> None:
    sessions = ConsoleSessions({"alice-console-token": "alice"}, redis, settings.queue_prefix)
    fresh = sessions.sign_in("alice-console-token")
    assert fresh is not None
    session = dataclasses.replace(fresh, issued=time.time() - sessions.lifetime - 60)  # signed nine hours ago
    console.cookies.set(COOKIE, sessions.cookie(session), path="/console")
    answer = console.get("/console/dead-letters")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in?reason=expired"
    assert "expired" in console.get(answer.headers["location"]).text
    assert console.post("/console/dead-letters/1/replay", data={"csrf": sessions.csrf(session)}).status_code == 403
    console.cookies.set(COOKIE, "forged.cookie", path="/console")
    assert console.get("/console/dead-letters").headers["location"] == "/console/sign-in?reason=invalid"
    console.cookies.clear()
    not_ascii = f"{COOKIE}=f\u00f6rged.c\u00f6okie".encode("latin-1")  # still a plain refusal, never a 500
    assert console.get("/console/dead-letters", headers={b"cookie": not_ascii}).status_code == 303


def test_every_section_renders(console: TestClient, settings: Settings) -> None:
    post(console, "pivot", pivot_event("PAYMENT.PAID", "ps-c", "order-c", "PAID"))
    post(console, "pivot", pivot_event("PAYMENT.CANCELLED", "ps-c", "order-c", "CANCELLED"))
    post(console, "pivot", b'{"event": "PAYMENT.PAID", "data": {"clientReferenceId": "order-x"}}')
    drain_all(settings)
    sign_in(console)
    pages = {
        "/console/": "Callbacks committed per minute, by outcome",
        "/console/dead-letters?reason=missing_field": "order-x",
        "/console/dead-letters/1": "clientReferenceId",
        "/console/payments?provider=pivot&order_ref=order-c": "Exactly this reference",
        "/console/payments/show?provider=pivot&order_ref=order-c": "conflict",
        "/console/payments?provider=pivot&order_ref=nope": "No pivot payment",
        "/console/unresolved": "Nothing unresolved",
        "/console/accounts": "No stored accounts",
        "/console/conflicts": "order-c",
        "/console/deliveries": "No endpoints",
        "/console/jobs": "No jobs yet",
        "/console/audit": "Nothing yet",
        "/console/static/console.css": "grid-template-columns",
    }
    for path, expected in pages.items():
        answer = console.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        assert expected in answer.text, path
    assert console.get("/console/dead-letters/999").status_code == 404
    assert console.get("/console/jobs/999").status_code == 404
