"""The admin API: payments and the dead-letter queue over HTTP, behind the bearer token."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from shared.settings import Settings
from tests.support.admin import AUTH, TOKEN, admin_client
from tests.support.fixtures import sample
from tests.support.pipeline import drain_all, payment, pivot_event, post, scalar

pytestmark = pytest.mark.integration


def test_admin_api_is_404_when_no_token_is_configured(web: TestClient) -> None:
    for path in ("/admin/dead-letters", "/admin/payments/pivot/x", "/admin/dead-letters/1"):
        answer = web.get(path, headers=AUTH)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_payment_with_its_history(admin: TestClient, settings: Settings) -> None:
    post(admin, "pivot", sample("pivot.payment_processing"))
    post(admin, "pivot", sample("pivot.payment_paid"))
    drain_all(settings)
    doc = admin.get("/admin/payments/pivot/1750758552", headers=AUTH).json()
    assert (doc["status"], doc["amount"], doc["currency"]) == ("paid", "10001", "IDR")
    assert [(e["type"], e["outcome"]) for e in doc["events"]] == [
        ("PAYMENT.PROCESSING", "applied"),
        ("PAYMENT.PAID", "applied"),
    ]
    assert admin.get("/admin/payments/pivot/nope", headers=AUTH).status_code == 404


def test_dead_letters_list_filter_page_show_replay_and_delete(
    admin: TestClient, settings: Settings, engine: Engine
) -> None:
    for i in range(5):
        post(admin, "pivot", f"not json {i}".encode())
    post(admin, "pivot", b'{"event": "PAYMENT.PAID", "data": {}}')
    drain_all(settings)

    page = admin.get("/admin/dead-letters", params={"limit": 2}, headers=AUTH).json()
    assert len(page["items"]) == 2 and page["next_offset"] == 2
    rest = admin.get("/admin/dead-letters", params={"limit": 10, "offset": 2}, headers=AUTH).json()
    assert len(rest["items"]) == 4 and rest["next_offset"] is None
    only = admin.get("/admin/dead-letters", params={"reason": "missing_field"}, headers=AUTH).json()["items"]
    assert [x["reason"] for x in only] == ["missing_field"]
    assert admin.get("/admin/dead-letters", params={"since": "tomorrow"}, headers=AUTH).status_code == 400

    first = page["items"][0]["id"]
    shown = admin.get(f"/admin/dead-letters/{first}", headers=AUTH).json()
    assert base64.b64decode(shown["body_base64"]) == b"not json 0"
    assert shown["reason"] == "invalid_json" and shown["traceback"]

    dry = admin.post("/admin/dead-letters/replay", params={"reason": "invalid_json", "dry_run": "true"}, headers=AUTH)
    assert len(dry.json()["would_replay"]) == 5
    assert scalar(engine, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL") == 0

    # One letter's cause is gone (its body fixed, as after a normalizer bug fix): replay applies it.
    fixed = pivot_event("PAYMENT.PAID", "sess-admin", "order-admin", "PAID")
    with engine.begin() as conn:
        conn.execute(text("UPDATE dead_letters SET body = :b WHERE id = :i"), {"b": fixed, "i": first})
    assert admin.post(f"/admin/dead-letters/{first}/replay", headers=AUTH).json() == {"replayed": [first]}
    drain_all(settings)
    assert payment(engine, "pivot", "order-admin")["status"] == "paid"  # type: ignore[index]

    replayed = admin.post("/admin/dead-letters/replay", params={"reason": "invalid_json"}, headers=AUTH).json()
    assert len(replayed["replayed"]) == 4
    drain_all(settings)
    assert scalar(engine, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL") == 5

    assert admin.delete(f"/admin/dead-letters/{first}", headers=AUTH).status_code == 204
    assert admin.delete(f"/admin/dead-letters/{first}", headers=AUTH).status_code == 404
    assert admin.post("/admin/dead-letters/999999/replay", headers=AUTH).status_code == 404


def test_admin_errors_keep_the_json_shape_even_when_the_database_is_down(settings: Settings) -> None:
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    down = "postgresql+psycopg://postgres@127.0.0.1:1/x"
    with admin_client(settings, database_url=down, raise_server_exceptions=False) as client:
        answers = [
            client.get("/admin/endpoints", headers=AUTH),
            client.get("/admin/nowhere", headers=AUTH),
            client.put("/admin/endpoints", headers=AUTH),
            client.post("/admin/endpoints", content=b"{" + b" " * 70_000 + b"}", headers=AUTH),
        ]
    assert [a.status_code for a in answers] == [500, 404, 405, 413]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"error", "message"} and all(isinstance(v, str) for v in body.values()), body


def test_the_bearer_scheme_is_case_insensitive(admin: TestClient) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert admin.get("/admin/endpoints", headers={"Authorization": f"{scheme} {TOKEN}"}).status_code == 200
    for wrong in (f"Basic {TOKEN}", f"Bearer{TOKEN}", "Bearer ", TOKEN):
        assert admin.get("/admin/endpoints", headers={"Authorization": wrong}).status_code == 401, wrong
