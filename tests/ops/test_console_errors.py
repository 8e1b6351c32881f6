"""The console's own error pages (issue 18b): a letter nested too deep to pretty-print is shown as it came; no
such page, a wrong method, a form over Starlette's limits and a failure of ours each answer an HTML page of the
console with its security headers, never plain text without them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from shared.ops.console.app import Console
from shared.ops.service import OperatorService
from shared.settings import Settings
from tests.ops.conftest import TOKENS
from tests.ops.test_console import sign_in
from tests.support.net import free_port
from tests.support.pipeline import drain_all, post

pytestmark = pytest.mark.integration


def _console_page(answer: Any, status: int) -> None:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
    assert "payhook console" in answer.text


def test_a_letter_nested_too_deep_to_pretty_print_is_shown_as_it_came(console: TestClient, settings: Settings) -> None:
    post(console, "pivot", b"[" * 40_000)
    drain_all(settings)
    sign_in(console)
    page = console.get("/console/dead-letters/1")
    _console_page(page, 200)
    assert "[[[[[[[[" in page.text


def test_missing_pages_wrong_methods_and_oversized_forms_answer_console_pages(console: TestClient) -> None:
    csrf = sign_in(console)
    _console_page(console.get("/console/no-such-section"), 404)
    _console_page(console.get("/console/dead-letters/999"), 404)
    _console_page(console.get("/console/payments/show?provider=pivot&order_ref=nobody"), 404)
    _console_page(console.get("/console/sign-out"), 405)
    fields = [("csrf", (None, csrf))] + [(f"f{i}", (None, "x")) for i in range(1001)]
    _console_page(console.post("/console/dead-letters/replay", files=fields), 400)


class Failing(OperatorService):
    def audit(self, *, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        raise RuntimeError("the audit trail broke")


@pytest.fixture
def failing(settings: Settings) -> Iterator[TestClient]:
    with_tokens = dataclasses.replace(settings, admin_tokens=TOKENS)
    ops = Failing(with_tokens)
    app = Starlette(routes=[Console(with_tokens, ops).mount()])
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client
    ops.close()


def test_a_failure_of_ours_answers_the_console_500_page_with_its_headers(failing: TestClient) -> None:
    sign_in(failing)
    page = failing.get("/console/audit")
    _console_page(page, 500)
    assert "the audit trail broke" not in page.text


def test_without_redis_the_console_says_sessions_are_unavailable(settings: Settings) -> None:
    """Sessions live in Redis: while it cannot be reached, a console page (503), never a bare failure."""
    nowhere = dataclasses.replace(settings, admin_tokens=TOKENS, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    ops = OperatorService(nowhere)
    app = Starlette(routes=[Console(nowhere, ops).mount()])
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        _console_page(client.post("/console/sign-in", data={"token": TOKENS[0][1]}), 503)
        client.cookies.set("payhook_console", "a.b", path="/console")
        assert client.get("/console/dead-letters").status_code == 303  # a cookie that is not ours: no Redis needed
    ops.close()
