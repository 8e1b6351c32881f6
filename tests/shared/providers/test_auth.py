"""Secrets as the authenticators hold them: several at once during a rotation, compared in constant time; time
windows; keys kept in a folder for the test signers. No network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.providers._auth import (
    SecretRing,
    kept_rsa_key,
    kept_secret,
    optional_seconds,
    public_pem,
    rsa_public_keys,
    secret_ring,
    within,
)
from shared.settings import SettingsError


def test_a_ring_holds_each_of_its_secrets_and_nothing_else() -> None:
    ring = SecretRing(("old", "new"))
    assert len(ring) == 2
    assert ring.holds("old") and ring.holds("new")
    assert not ring.holds("ol") and not ring.holds("newer") and not ring.holds("")


def test_a_ring_matches_what_a_secret_derives() -> None:
    ring = SecretRing(("k1", "k2"))
    given = hashlib.sha256(b"body" + b"k2").hexdigest()
    assert ring.derives(given, lambda key: hashlib.sha256(b"body" + key).hexdigest().encode())
    assert not ring.derives(given, lambda key: hashlib.sha256(b"other" + key).hexdigest().encode())


def test_secret_ring_reads_commas_or_whitespace_and_none_when_unset() -> None:
    ring = secret_ring({"V": "a, b\tc"}, "V")
    assert ring is not None and len(ring) == 3 and ring.holds("c")
    assert secret_ring({}, "V") is None
    assert secret_ring({"V": "  "}, "V") is None


def test_optional_seconds_names_a_bad_variable() -> None:
    assert optional_seconds({"S": "2.5"}, "S") == 2.5
    assert optional_seconds({"S": ""}, "S") is None
    with pytest.raises(SettingsError, match="S"):
        optional_seconds({"S": "soon"}, "S")


def test_within_a_window_of_now() -> None:
    assert within("1000", 300, now=1300)
    assert within("1300", 300, now=1000)
    assert not within("999", 300, now=1300)
    assert not within("not a number", 300, now=1300)


def test_kept_secrets_and_keys_are_made_once(tmp_path: Path) -> None:
    first = kept_secret(tmp_path, "s")
    assert first and kept_secret(tmp_path, "s") == first
    assert kept_secret(tmp_path, "other", lambda: "made") == "made"
    key = kept_rsa_key(tmp_path, "rsa")
    assert public_pem(kept_rsa_key(tmp_path, "rsa")) == public_pem(key)


def test_rsa_public_keys_read_several_and_refuse_garbage(tmp_path: Path) -> None:
    one, two = public_pem(kept_rsa_key(tmp_path, "a")), public_pem(kept_rsa_key(tmp_path, "b"))
    assert len(rsa_public_keys(one + two, "KEYS")) == 2
    with pytest.raises(SettingsError, match="KEYS"):
        rsa_public_keys("not a key", "KEYS")
