"""The accounts repository on the real PostgreSQL: settings sealed at rest with their fingerprints in clear,
rotations keeping the previous settings for a while, enabling, removing, loading as accounts."""

from __future__ import annotations

import hashlib
import time

from cryptography.fernet import Fernet
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from shared.accounts import fingerprint
from shared.db import accounts as repo
from shared.sealing import Sealer

KEY = "PAYHOOK_PIVOT_CALLBACK_KEY"


def test_settings_are_sealed_at_rest_and_fingerprinted_in_clear(engine: Engine) -> None:
    sealer = Sealer((Fernet.generate_key().decode(),))
    with Session(engine) as session, session.begin():
        repo.add(session, "pivot", "shop", {KEY: "very-secret-key"}, sealer)
    with engine.connect() as conn:
        stored, shown = conn.execute(text("SELECT settings, fingerprints FROM accounts")).one()
    assert b"very-secret-key" not in bytes(stored)
    assert shown == {"callback_key": fingerprint("very-secret-key", sealer.fingerprint_key)}
    with Session(engine) as session:
        row = repo.find(session, "pivot", "shop")
        assert row is not None and repo.opened_settings(row, sealer) == {KEY: "very-secret-key"}
        assert repo.find(session, "pivot", "other") is None


def test_a_rotation_keeps_the_previous_settings_for_a_while(engine: Engine) -> None:
    sealer = Sealer()
    with Session(engine) as session, session.begin():
        row = repo.add(session, "pivot", "shop", {KEY: "old"}, sealer)
        repo.replace_settings(session, row, {KEY: "new"}, sealer, keep_previous=600)
    with Session(engine) as session:
        [account] = repo.load(session, sealer)
    assert account.settings == {KEY: "new"} and account.previous == {KEY: "old"}
    assert account.previous_valid(time.time()) and not account.previous_valid(time.time() + 601)
    with Session(engine) as session, session.begin():
        locked = repo.find(session, "pivot", "shop", lock=True)
        assert locked is not None
        repo.replace_settings(session, locked, {KEY: "newer"}, sealer)
    with Session(engine) as session:
        [account] = repo.load(session, sealer)
    assert account.settings == {KEY: "newer"} and account.previous is None


def test_listing_disabling_and_removing(engine: Engine) -> None:
    sealer = Sealer()
    with Session(engine) as session, session.begin():
        repo.add(session, "pivot", "b", {KEY: "k"}, sealer)
        repo.add(session, "pivot", "a", {KEY: "k"}, sealer)
        repo.add(session, "midtrans", "m", {"PAYHOOK_MIDTRANS_SERVER_KEY": "k"}, sealer)
        repo.set_enabled(repo.listed(session, "pivot")[0], False)
    with Session(engine) as session, session.begin():
        assert [(r.provider, r.name, r.enabled) for r in repo.listed(session)] == [
            ("midtrans", "m", True),
            ("pivot", "a", False),
            ("pivot", "b", True),
        ]
        assert repo.remove(session, "pivot", "a") == 1
        assert repo.remove(session, "pivot", "a") == 0
    with Session(engine) as session:
        assert [a.name for a in repo.load(session, sealer)] == ["m", "b"]


def test_an_account_sealed_with_a_removed_key_is_left_out_and_the_others_load(engine: Engine) -> None:
    old, kept = Sealer((Fernet.generate_key().decode(),)), Sealer((Fernet.generate_key().decode(),))
    with Session(engine) as session, session.begin():
        repo.add(session, "pivot", "orphan", {KEY: "sealed-with-a-removed-key"}, old)
        for name in ("a", "z"):
            repo.add(session, "pivot", name, {KEY: f"key-{name}"}, kept)
        rotated = repo.add(session, "pivot", "rotated", {KEY: "before"}, old)
        repo.replace_settings(session, rotated, {KEY: "after"}, kept, keep_previous=600)
    with Session(engine) as session:
        loaded = {a.name: a for a in repo.load(session, kept)}
    assert sorted(loaded) == ["a", "rotated", "z"]
    assert loaded["a"].settings == {KEY: "key-a"}
    # Its previous settings cannot be opened any more: the overlap ends, the account itself stays.
    assert loaded["rotated"].settings == {KEY: "after"} and loaded["rotated"].previous is None
    with Session(engine) as session:
        assert [a.name for a in repo.load(session, Sealer())] == []


def test_a_sealed_secrets_fingerprint_cannot_be_matched_without_the_key(engine: Engine) -> None:
    """A short key's plain digest is found by hashing guesses; the stored fingerprint is keyed."""
    sealer = Sealer((Fernet.generate_key().decode(),))
    with Session(engine) as session, session.begin():
        repo.add(session, "pivot", "tiny", {KEY: "q7Zx"}, sealer)
    with engine.connect() as conn:
        [shown] = conn.execute(text("SELECT fingerprints->>'callback_key' FROM accounts")).one()
    assert shown.startswith("hmac-sha256:")
    assert (
        shown.split(":")[1] not in fingerprint("q7Zx")
        and shown.split(":")[1] not in hashlib.sha256(b"q7Zx").hexdigest()
    )
    assert shown != fingerprint("q7Zx", Sealer((Fernet.generate_key().decode(),)).fingerprint_key)


def test_migrate_keys_the_fingerprints_written_before(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        repo.add(session, "pivot", "old", {KEY: "q7Zx"}, Sealer())
    sealer = Sealer((Fernet.generate_key().decode(),))
    with Session(engine) as session, session.begin():
        assert repo.refingerprint(session, sealer) == 1
    with Session(engine) as session, session.begin():
        assert repo.refingerprint(session, sealer) == 0
        row = repo.find(session, "pivot", "old")
        assert row is not None and row.fingerprints == {"callback_key": fingerprint("q7Zx", sealer.fingerprint_key)}
