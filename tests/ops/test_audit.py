"""The audit trail: named admin tokens, every replay, purge, endpoint change and delivery retry recorded with
actor, time, filter or target, count and outcome; read back with ``payhook audit list`` and ``/admin/audit``."""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.ops.cli import main
from shared.settings import Settings, SettingsError
from tests.conftest import env_for
from tests.support.pipeline import drain_all, post

pytestmark = pytest.mark.integration
TOKENS = (("alice", "alice-secret-token"), ("bob", "bob-secret-token"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(settings: Settings) -> Iterator[TestClient]:
    named = dataclasses.replace(settings, admin_token="plain-admin-token", admin_tokens=TOKENS)
    with TestClient(create_app(named, ring=False)) as client:
        yield client


def cli(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix))


def _dead_letters(web: TestClient, settings: Settings, n: int) -> None:
    for i in range(n):
        post(web, "pivot", b'{"event": "PAYMENT.PAID", "data": {"id": "x%d"}}' % i)  # missing fields
    drain_all(settings)


def test_each_named_token_is_its_own_actor(admin: TestClient, settings: Settings) -> None:
    _dead_letters(admin, settings, 3)
    letters = admin.get("/admin/dead-letters", headers=bearer("alice-secret-token")).json()["items"]
    first, second = letters[0]["id"], letters[1]["id"]
    assert admin.post(f"/admin/dead-letters/{first}/replay", headers=bearer("alice-secret-token")).status_code == 200
    assert admin.delete(f"/admin/dead-letters/{second}", headers=bearer("bob-secret-token")).status_code == 204
    made = admin.post("/admin/endpoints", json={"url": "http://127.0.0.1:9/"}, headers=bearer("plain-admin-token"))
    refused = admin.post("/admin/endpoints", json={"url": "gopher://x/"}, headers=bearer("bob-secret-token"))
    assert refused.status_code == 422
    with_password = admin.post(
        "/admin/endpoints", json={"url": "https://u:hunter2@h.example/"}, headers=bearer("bob-secret-token")
    )
    assert with_password.status_code == 422
    assert admin.get("/admin/audit", headers=bearer("wrong")).status_code == 401
    entries = admin.get("/admin/audit", headers=bearer("bob-secret-token")).json()["items"]
    assert "hunter2" not in str(entries) and entries[0]["target"] == "https://***@h.example/"
    entries = entries[1:]
    assert [(e["actor"], e["action"], e["count"]) for e in entries] == [
        ("bob", "endpoint.add", None),
        ("admin", "endpoint.add", 1),
        ("bob", "dlq.purge", 1),
        ("alice", "dlq.replay", 1),
    ]
    assert entries[0]["outcome"].startswith("refused: an endpoint URL must be http or https")
    assert entries[1]["outcome"] == f"added endpoint {made.json()['id']}"
    assert entries[3]["target"] == str(first) and entries[3]["outcome"] == "replayed 1 of 1"
    assert all(e["at"] for e in entries)


def test_a_bulk_replay_records_its_filter_and_the_cli_names_its_user(admin: TestClient, settings: Settings) -> None:
    _dead_letters(admin, settings, 4)
    replayed = admin.post(
        "/admin/dead-letters/replay", params={"reason": "missing_field"}, headers=bearer("alice-secret-token")
    )
    assert len(replayed.json()["replayed"]) == 4
    assert cli(settings, "endpoints", "add", "http://127.0.0.1:9/").exit_code == 0
    assert cli(settings, "endpoints", "disable", "1", "--actor", "oncall-carol").exit_code == 0
    listed = cli(settings, "audit", "list", "--json")
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.stdout)
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("oncall-carol", "endpoint.disable"),
        (f"cli:{getpass.getuser()}", "endpoint.add"),
        ("alice", "dlq.replay"),
    ]
    assert entries[2]["filters"] == {"reason": "missing_field"} and entries[2]["count"] == 4
    text = cli(settings, "audit", "list").stdout
    assert "oncall-carol" in text and "endpoint.disable" in text and '{"reason":"missing_field"}' in text


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("alice", "name:token pairs"),
        ("alice:", "name:token pairs"),
        ("al ice:SECRETXYZ", "letters, digits"),
        ("a:SECRETXYZ,b:SECRETXYZ", "the same token two names"),
    ],
)
def test_malformed_named_tokens_stop_the_process_naming_the_variable(raw: str, says: str) -> None:
    with pytest.raises(SettingsError, match="PAYHOOK_ADMIN_TOKENS") as raised:
        Settings.from_env({"PAYHOOK_ADMIN_TOKENS": raw})
    assert says in str(raised.value)
    assert "SECRETXYZ" not in str(raised.value)  # the message never quotes a token


def test_named_tokens_alone_enable_the_admin_api(settings: Settings) -> None:
    named = dataclasses.replace(settings, admin_tokens=(("dave", "dave-token"),))
    with TestClient(create_app(named, ring=False)) as client:
        assert client.get("/admin/audit", headers=bearer("dave-token")).status_code == 200
        assert client.get("/admin/audit", headers=bearer("admin-token")).status_code == 401
