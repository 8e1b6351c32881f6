"""The ``payhook`` command as operators use it: lookups, stats and the dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.ops.cli import main
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import sample
from tests.support.pipeline import drain_all, payment, pivot_event, post, rows, scalar

pytestmark = pytest.mark.integration


def run(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix))


def test_payments_show_json_has_the_contract_fields(settings: Settings, web: TestClient) -> None:
    post(web, "pivot", sample("pivot.payment_processing"))
    post(web, "pivot", sample("pivot.payment_paid"))
    post(web, "pivot", sample("pivot.payment_paid"))
    drain_all(settings)
    result = run(settings, "payments", "show", "pivot", "1750758552", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"provider", "order_ref", "status", "amount", "currency", "events"} <= set(doc)
    assert (doc["provider"], doc["order_ref"], doc["status"], doc["amount"], doc["currency"]) == (
        "pivot",
        "1750758552",
        "paid",
        "10001",
        "IDR",
    )
    assert [(e["type"], e["status"], e["outcome"]) for e in doc["events"]] == [
        ("PAYMENT.PROCESSING", "processing", "applied"),
        ("PAYMENT.PAID", "paid", "applied"),
        ("PAYMENT.PAID", "paid", "duplicate"),
    ]
    assert all(e["received_at"] for e in doc["events"])
    human = run(settings, "payments", "show", "pivot", "1750758552")
    assert "paid" in human.stdout and "duplicate" in human.stdout


def test_payments_show_unknown_fails_with_one_line(settings: Settings) -> None:
    result = run(settings, "payments", "show", "pivot", "nope", "--json")
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "nope" in result.stderr


def test_stats_counts_queued_in_flight_and_dead_letters(settings: Settings, web: TestClient, redis: Redis) -> None:
    post(web, "pivot", b"not json")
    drain_all(settings)
    for i in range(3):
        post(web, "pivot", pivot_event("PAYMENT.PAID", f"s{i}", f"o{i}", "PAID"))
    keys = QueueKeys(settings.queue_prefix)
    redis.xreadgroup(keys.group, "someone", {keys.stream: ">"}, count=1)
    doc = json.loads(run(settings, "stats", "--json").stdout)
    assert (doc["queued"], doc["in_flight"], doc["dead_letters"]) == (2, 1, 1)
    assert doc["oldest_waiting_seconds"] >= 0


def test_dlq_list_show_replay_and_purge(settings: Settings, web: TestClient, engine: Engine) -> None:
    post(web, "pivot", b'{"event": "PAYMENT.PAID", "data": {"id": "only-an-id"}}')
    post(web, "pivot", b"<xml/>")
    drain_all(settings)
    listed = json.loads(run(settings, "dlq", "list", "--json").stdout)
    assert sorted(x["reason"] for x in listed) == ["invalid_json", "missing_field"]
    only_json = json.loads(run(settings, "dlq", "list", "--reason", "invalid_json", "--json").stdout)
    assert [x["reason"] for x in only_json] == ["invalid_json"]
    shown = json.loads(run(settings, "dlq", "show", str(only_json[0]["id"]), "--json").stdout)
    assert shown["body"] == "<xml/>" and "traceback" in shown and shown["reason"] == "invalid_json"

    # A dead letter whose cause is gone (say, a normalizer bug since fixed) goes through the pipeline again.
    fixed = pivot_event("PAYMENT.PAID", "sess-fixed", "order-fixed", "PAID")
    [target] = [x["id"] for x in listed if x["reason"] == "missing_field"]
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE dead_letters SET body = :b WHERE id = :i"), {"b": fixed, "i": target})
    dry = run(settings, "dlq", "replay", str(target), "--dry-run")
    assert dry.exit_code == 0 and "new -> paid" in dry.stdout and "nothing changed: 1 applied" in dry.stdout
    assert payment(engine, "pivot", "order-fixed") is None
    replayed = run(settings, "dlq", "replay", str(target))
    assert replayed.exit_code == 0, replayed.output
    drain_all(settings)
    assert payment(engine, "pivot", "order-fixed")["status"] == "paid"  # type: ignore[index]
    assert [x["id"] for x in json.loads(run(settings, "dlq", "list", "--json").stdout)] == [only_json[0]["id"]]

    # Replaying garbage sends it through the same pipeline, where it fails again: a new dead letter.
    assert run(settings, "dlq", "replay", "--all", "--reason", "invalid_json").exit_code == 0
    drain_all(settings)
    again = json.loads(run(settings, "dlq", "list", "--json").stdout)
    assert len(again) == 1 and again[0]["id"] != only_json[0]["id"]
    # --all means every dead letter matching the filters, replayed ones included.
    purged = run(settings, "dlq", "purge", "--all", "--yes")
    assert purged.exit_code == 0 and "purged 3" in purged.stdout
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0
    assert run(settings, "dlq", "replay").exit_code != 0
    assert run(settings, "dlq", "show", "999999").exit_code != 0


def test_dead_letters_outlive_the_queue(settings: Settings, web: TestClient, redis: Redis, engine: Engine) -> None:
    post(web, "pivot", b"garbage")
    drain_all(settings)
    for key in redis.scan_iter(f"{settings.queue_prefix}:*"):
        redis.delete(key)  # Redis restarted without persistence
    [letter] = rows(engine, "SELECT id, body FROM dead_letters")
    assert bytes(letter.body) == b"garbage"
    assert run(settings, "dlq", "replay", str(letter.id)).exit_code == 0
    drain_all(settings)
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 2


def test_migrate_is_idempotent(settings: Settings) -> None:
    for _ in range(2):
        result = run(settings, "migrate")
        assert result.exit_code == 0, result.output


def test_malformed_setting_stops_the_command_naming_the_variable(settings: Settings) -> None:
    env = env_for(settings.queue_prefix, PAYHOOK_MAX_BODY_BYTES="huge")
    result = CliRunner().invoke(main, ["stats"], env=env)
    assert result.exit_code != 0 and "PAYHOOK_MAX_BODY_BYTES" in result.stderr
