"""Encryption at rest of stored raw callbacks: invisible in the tables, transparent to dlq show and replay."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import Engine, text

from shared.ops.cli import main
from shared.queue import QueuedCallback, QueueKeys
from shared.sealing import MARKER
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.pipeline import append, drain_all, payment, pivot_event, rows

pytestmark = pytest.mark.integration


def test_raw_callbacks_are_sealed_and_read_back_transparently_across_a_key_rotation(
    settings: Settings, redis: Redis, engine: Engine
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = dataclasses.replace(settings, encryption_keys=(old,))
    good = pivot_event("PAYMENT.PAID", "sess-secret", "order-secret", "PAID")
    garbage = QueuedCallback("pivot", b"card 4111 1111 1111 1111, not json", {}, 2.0)
    append(redis, QueueKeys(settings.queue_prefix), QueuedCallback("pivot", good, {}, 1.0), garbage)
    drain_all(sealed)

    [event] = rows(engine, "SELECT raw FROM payment_events")
    [letter] = rows(engine, "SELECT id, body FROM dead_letters")
    for stored in (bytes(event.raw), bytes(letter.body)):
        assert stored.startswith(MARKER)
        assert b"order-secret" not in stored and b"4111" not in stored
    assert payment(engine, "pivot", "order-secret")["status"] == "paid"  # type: ignore[index]

    # Rotation: the new key seals from now on, the old one still opens what it sealed.
    env = env_for(settings.queue_prefix, PAYHOOK_ENCRYPTION_KEYS=f"{new},{old}")
    shown = CliRunner().invoke(main, ["dlq", "show", str(letter.id), "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["body"] == "card 4111 1111 1111 1111, not json"

    # Replay sends the original bytes again: the same failure, dead-lettered again, sealed with the new key.
    assert CliRunner().invoke(main, ["dlq", "replay", str(letter.id)], env=env).exit_code == 0
    drain_all(dataclasses.replace(settings, encryption_keys=(new, old)))
    [again] = rows(engine, "SELECT body FROM dead_letters WHERE replayed_at IS NULL")
    assert Fernet(new.encode()).decrypt(bytes(again.body)[len(MARKER) :]) == b"card 4111 1111 1111 1111, not json"

    # Without the keys, a sealed callback is not silently shown as ciphertext.
    plain_env = env_for(settings.queue_prefix)
    refused = CliRunner().invoke(main, ["dlq", "show", str(letter.id)], env=plain_env)
    assert refused.exit_code != 0 and "PAYHOOK_ENCRYPTION_KEYS" in refused.stderr


def test_rows_stored_before_encryption_read_back_unchanged(settings: Settings, redis: Redis, engine: Engine) -> None:
    append(redis, QueueKeys(settings.queue_prefix), QueuedCallback("pivot", b"plain garbage", {}, 1.0))
    drain_all(settings)
    env = env_for(settings.queue_prefix, PAYHOOK_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    [letter] = rows(engine, "SELECT id FROM dead_letters")
    shown = CliRunner().invoke(main, ["dlq", "show", str(letter.id), "--json"], env=env)
    assert json.loads(shown.stdout)["body"] == "plain garbage"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT body FROM dead_letters")).scalar_one() == b"plain garbage"


def test_a_malformed_encryption_key_stops_the_process_naming_the_variable(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["stats"], env=env_for(settings.queue_prefix, PAYHOOK_ENCRYPTION_KEYS="short"))
    assert result.exit_code != 0 and "PAYHOOK_ENCRYPTION_KEYS" in result.stderr
