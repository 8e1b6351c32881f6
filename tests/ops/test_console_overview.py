"""The console's first page, the Overview: each stage's health and the last hours' charts, drawn by the server
from the figures the pipeline kept, with numbers that match what was sent; and no script anywhere."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from redis import Redis
from starlette.testclient import TestClient

from ingest.server import create_app
from shared import liveness
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.support.pipeline import drain_all, pivot_event, post

pytestmark = pytest.mark.integration
TOKEN = "alice-console-token"


@pytest.fixture
def console(settings: Settings) -> Iterator[TestClient]:
    app = create_app(dataclasses.replace(settings, admin_tokens=(("alice", TOKEN),)), ring=False)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def _stage(page: str, name: str) -> tuple[str, str]:
    """A stage's value and note, as the page shows them."""
    found = re.search(
        rf'<span class="stage-name">{name}</span>\s*<strong class="stage-value">([^<]*)</strong>\s*'
        rf'(?:<span class="hint">([^<]*)</span>)?',
        page,
    )
    assert found, f"no stage {name!r} on the page"
    return found.group(1), found.group(2) or ""


def _row(page: str, provider: str) -> dict[str, int]:
    row = re.search(rf"<tr><td>{provider}</td>(.*?)</tr>", page, re.S)
    assert row, f"no row for {provider}"
    return {k: int(v) for k, v in re.findall(r'<td data-result="([a-z_]+)">(\d+)</td>', row.group(1))}


def test_signing_in_lands_on_the_overview_and_it_shows_no_figures_yet(console: TestClient) -> None:
    answer = console.post("/console/sign-in", data={"token": TOKEN})
    assert answer.headers["location"] == "/console/"
    page = console.get("/console/")
    assert page.status_code == 200 and "<h1>Overview" in page.text
    assert 'href="/console/" aria-current="page">Overview</a>' in page.text
    assert page.text.count("No figures yet.") == 3 and "No callbacks in the last hour." in page.text
    assert "<script" not in page.text.lower() and '<meta http-equiv="refresh" content="60">' in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script runs


def test_the_overview_counts_what_was_sent_by_provider_and_outcome(
    console: TestClient, settings: Settings, redis: Redis
) -> None:
    paid = pivot_event("PAYMENT.PAID", "ps-o1", "order-o1", "PAID")
    for body in (paid, paid, paid, pivot_event("PAYMENT.PAID", "ps-o2", "order-o2", "PAID")):
        post(console, "pivot", body)
    post(console, "pivot", pivot_event("PAYMENT.CANCELLED", "ps-o1", "order-o1", "CANCELLED"))  # after paid
    post(console, "pivot", b"{not json")
    post(console, "pivot", b'{"event": "PAYMENT.PAID", "data": {}}')
    drain_all(settings)
    post(console, "pivot", pivot_event("PAYMENT.PAID", "ps-o3", "order-o3", "PAID"))  # left waiting in the queue
    liveness.stamp(redis, QueueKeys(settings.queue_prefix), "host:1")
    console.post("/console/sign-in", data={"token": TOKEN})
    page = console.get("/console/").text

    assert _row(page, "pivot") == {
        "applied": 2, "duplicate": 2, "stale": 0, "conflict": 1, "unconfirmed": 0, "dead_letter": 2,
    }  # fmt: skip
    assert _stage(page, "Queue depth")[0] == "1" and "oldest waiting" in _stage(page, "Queue depth")[1]
    assert _stage(page, "Dead letters waiting") == ("2", "2 new in the last hour")
    assert _stage(page, "Workers alive")[0] == "1"
    assert _stage(page, "Receiver")[0] == "accepting"
    assert _stage(page, "Spool")[0] == "0"
    assert _stage(page, "Deliveries failing")[0] == "0" and _stage(page, "Unresolved payments")[0] == "0"

    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 3
    legends = [[t.text for t in ET.fromstring(chart).iter("{http://www.w3.org/2000/svg}text")] for chart in charts]
    assert "pivot (7)" in legends[0]  # committed callbacks, dead letters included
    assert {"applied (2)", "duplicate (2)", "conflict (1)", "dead_letter (2)"} <= set(legends[1])
    assert "<script" not in page.lower()
