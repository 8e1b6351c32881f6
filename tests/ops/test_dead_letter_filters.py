"""Filters worth having: provider, reason, event type, order reference, time range, free text over the raw
body (and what it does when bodies are encrypted at rest), counts by reason, cursor pages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from shared.db import dead_letters as dlq
from shared.ops.cli import main
from shared.ops.service import OperatorService
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.admin import AUTH, admin_client
from tests.support.pipeline import drain_all, post

pytestmark = pytest.mark.integration


def cli(settings: Settings, *args: str, **env: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix, **env))


def _letters(web: TestClient, settings: Settings) -> None:
    """Twelve letters: missing fields naming orders, unknown statuses, and garbage."""
    for i in range(6):
        post(web, "pivot", b'{"event": "PAYMENT.PAID", "data": {"clientReferenceId": "order-%d"}}' % i)
    for i in range(4):
        post(
            web,
            "pivot",
            b'{"event": "PAYMENT.WEIRD", "data": {"id": "s%d", "clientReferenceId": "vip-%d", '
            b'"status": "WEIRD", "amount": {"value": 1, "currency": "IDR"}}}' % (i, i),
        )
    post(web, "pivot", b"<xml>needle-in-xml</xml>")
    post(web, "pivot", b"{truncated")
    drain_all(settings)


def test_filters_counts_and_cursor_pages(settings: Settings, web: TestClient) -> None:
    _letters(web, settings)
    ops = OperatorService(settings, pool_size=1)
    try:
        everything = ops.letters(dlq.Filters(), limit=100)
        assert len(everything) == 12
        counts = ops.letter_counts(dlq.Filters())
        assert sum(counts.values()) == 12 and counts["invalid_json"] == 2
        by_order = ops.letters(dlq.Filters(order_ref="order-3"), limit=10)
        assert [x["order_ref"] for x in by_order] == ["order-3"] and by_order[0]["event_type"] == "PAYMENT.PAID"
        assert len(ops.letters(dlq.Filters(event_type="PAYMENT.PAID"), limit=100)) == 6
        [needle] = ops.letters(dlq.Filters(search="needle-in"), limit=10)
        assert needle["detail"].startswith("body is not")
        assert len(ops.letters(dlq.Filters(search="vip-"), limit=100)) == 4  # the body, and the order reference
        assert ops.letter_counts(dlq.Filters(search="vip-")) == {everything[6]["reason"]: 4}
        # Cursor pages: each starts after the last id of the one before, and together they are everything.
        pages, after = [], None
        while True:
            page = ops.letters(dlq.Filters(), limit=5, after=after)
            if not page:
                break
            pages.append([x["id"] for x in page])
            after = page[-1]["id"]
        assert [len(p) for p in pages] == [5, 5, 2]
        assert [i for p in pages for i in p] == [x["id"] for x in everything]
    finally:
        ops.close()


def test_the_cli_and_the_admin_api_filter_the_same_way(settings: Settings, web: TestClient) -> None:
    _letters(web, settings)
    listed = json.loads(cli(settings, "dlq", "list", "--search", "vip-", "--json").stdout)
    assert len(listed) == 4
    page = cli(settings, "dlq", "list", "--limit", "5")
    said = " ".join(page.stdout.split())  # read as words: a narrow terminal wraps the line
    assert page.exit_code == 0 and "5 of 12 dead letters waiting" in said and "next page: --after" in said
    counts = json.loads(cli(settings, "dlq", "counts", "--json").stdout)
    assert counts["total"] == 12
    with admin_client(settings) as admin:
        first = admin.get("/admin/dead-letters", params={"limit": 5}, headers=AUTH).json()
        second = admin.get("/admin/dead-letters", params={"limit": 5, "after": first["next_after"]}, headers=AUTH)
        assert second.json()["items"][0]["id"] > first["items"][-1]["id"]
        found = admin.get("/admin/dead-letters", params={"search": "needle-in-xml"}, headers=AUTH).json()["items"]
        assert len(found) == 1
        # q, free text's earlier name, still works.
        assert admin.get("/admin/dead-letters", params={"q": "needle-in-xml"}, headers=AUTH).json()["items"] == found
        by_reason = admin.get("/admin/dead-letters/counts", params={"event_type": "PAYMENT.PAID"}, headers=AUTH)
        assert by_reason.json()["total"] == 6


def test_encrypted_bodies_are_searched_by_their_metadata_only(prefix: str, web: TestClient) -> None:
    sealed = Settings.from_env(env_for(prefix, PAYHOOK_ENCRYPTION_KEYS=Fernet.generate_key().decode()))
    _letters(web, sealed)
    ops = OperatorService(sealed, pool_size=1)
    try:
        # The raw body is ciphertext at rest: text only in it is not found ...
        assert ops.letters(dlq.Filters(search="needle-in-xml"), limit=10) == []
        # ... what was read from it when it was recorded (order reference, event type) and the detail are.
        assert len(ops.letters(dlq.Filters(search="vip-"), limit=10)) == 4
        assert len(ops.letters(dlq.Filters(order_ref="order-1"), limit=10)) == 1
    finally:
        ops.close()


def test_time_range_pages_follow_time_and_cover_every_letter(settings: Settings, web: TestClient) -> None:
    from datetime import UTC, datetime, timedelta

    _letters(web, settings)
    ops = OperatorService(settings, pool_size=1)
    try:
        window = dlq.Filters(since=datetime.now(UTC) - timedelta(hours=1), until=datetime.now(UTC) + timedelta(hours=1))
        pages, after = [], None
        while page := ops.letters(window, limit=5, after=after):
            pages.append([x["id"] for x in page])
            after = page[-1]["id"]
        assert [i for p in pages for i in p] == [x["id"] for x in ops.letters(dlq.Filters(), limit=100)]
        assert ops.letters(dlq.Filters(until=datetime.now(UTC) - timedelta(hours=1)), limit=5) == []
    finally:
        ops.close()
