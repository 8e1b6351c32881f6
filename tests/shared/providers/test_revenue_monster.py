"""Revenue Monster: signatures verified over the canonical form (so the body's layout does not matter), and
its events mapped to canonical payments with exact amounts in ringgit."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import assume, given
from hypothesis import strategies as st

from shared.canonical import InvalidAmount, MissingField, NormalizeError, Status, UnknownEvent, UnknownStatus
from shared.providers import Authenticator
from shared.providers import revenue_monster as rm
from shared.providers._auth import public_pem
from shared.providers._gojson import MAX_DEPTH, canonical_json
from shared.providers.revenue_monster import configure, signing_string
from shared.settings import SettingsError
from tests.shared.providers.strategies import (
    PROPERTY,
    JSONValue,
    dumps,
    json_objects,
    json_text,
    layouts,
    tampered_documents,
)
from tests.support.fixtures import KEYS, json_depth, sample


@cache
def fixture_private_key() -> rsa.RSAPrivateKey:
    return rm.test_key(KEYS)


def rm_headers(
    body: bytes, key: rsa.RSAPrivateKey, *, nonce: str | None = None, stamp: str | None = None
) -> dict[str, str]:
    return rm.sign_headers(body, key, nonce=nonce, stamp=stamp)


def verified(auth: Authenticator, headers: Mapping[str, str], body: bytes) -> bool:
    return auth.refusal(headers, body) is None


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.fixture(scope="module")
def generated_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module", params=["fixture", "generated"])
def key(request: pytest.FixtureRequest, generated_key: rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    return fixture_private_key() if request.param == "fixture" else generated_key


@cache
def _verifier(*keys: rsa.RSAPrivateKey) -> Authenticator:
    verifier = configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": "".join(public_pem(k) for k in keys)})
    assert verifier is not None
    return verifier


def test_signed_sample_verifies(key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.payment_web_online")
    assert verified(_verifier(key), _lower(rm_headers(body, key)), body)


def test_pretty_printed_or_reordered_body_still_verifies(key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.recurring_payment")
    headers = _lower(rm_headers(body, key))
    doc = json.loads(body)
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=7).encode()
    compact = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    assert verified(_verifier(key), headers, reordered)
    assert verified(_verifier(key), headers, compact)


@pytest.mark.parametrize("field", ["x-signature", "x-nonce-str", "x-timestamp"])
def test_missing_signature_header_fails(key: rsa.RSAPrivateKey, field: str) -> None:
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, key))
    del headers[field]
    assert not verified(_verifier(key), headers, body)


def test_tampered_body_nonce_or_timestamp_fails(key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, key, nonce="abc", stamp="1700000000"))
    verifier = _verifier(key)
    assert verified(verifier, headers, body)
    assert not verified(verifier, headers, body.replace(b'"amount": 100', b'"amount": 10000'))
    assert not verified(verifier, {**headers, "x-nonce-str": "abd"}, body)
    assert not verified(verifier, {**headers, "x-timestamp": "1700000001"}, body)
    assert not verified(verifier, {**headers, "x-signature": "sha256 !!notbase64"}, body)
    assert not verified(verifier, {**headers, "x-signature": headers["x-signature"].replace("sha256", "md5")}, body)
    assert not verified(verifier, headers, b"not json at all")


def test_signature_of_another_key_fails(generated_key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, generated_key))
    assert not verified(_verifier(fixture_private_key()), headers, body)


def test_any_configured_key_verifies_during_rotation(generated_key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.payment_web_online")
    verifier = _verifier(fixture_private_key(), generated_key)
    assert verified(verifier, _lower(rm_headers(body, generated_key)), body)
    assert verified(verifier, _lower(rm_headers(body, fixture_private_key())), body)


def test_key_file_setting_is_read_and_bad_keys_name_the_variable() -> None:
    assert configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE": str(KEYS / "revenue-monster-test-public.pem")})
    with pytest.raises(SettingsError, match="PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY"):
        configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"})
    with pytest.raises(SettingsError, match="PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE"):
        configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE": "does/not/exist.pem"})
    assert configure({}) is None


def _sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return "sha256 " + base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def test_a_server_on_go_before_1_22_signs_b_and_f_the_old_way_and_still_verifies() -> None:
    key = fixture_private_key()
    body = b'{"data":{"note":"bell\\b and feed\\f"},"eventType":"PAYMENT_WEB_ONLINE"}'
    old_go = canonical_json(body).replace(b"\\b", b"\\u0008").replace(b"\\f", b"\\u000c")
    headers = {"x-signature": _sign(key, signing_string(old_go, "n", "1")), "x-nonce-str": "n", "x-timestamp": "1"}
    assert verified(_verifier(key), headers, body)


def test_timestamp_window_is_off_by_default_and_refuses_stale_callbacks_when_set() -> None:
    key = fixture_private_key()
    body = sample("revenue-monster.payment_web_online")
    old = _lower(rm_headers(body, key, stamp=str(int(time.time()) - 3600)))
    fresh = _lower(rm_headers(body, key))
    assert verified(_verifier(key), old, body)
    windowed = configure(
        {"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": public_pem(key), "PAYHOOK_REVENUE_MONSTER_MAX_SKEW_SECONDS": "300"}
    )
    assert windowed is not None
    assert windowed.refusal(old, body) == "X-Timestamp is outside the accepted window"
    assert verified(windowed, fresh, body)
    with pytest.raises(SettingsError, match="PAYHOOK_REVENUE_MONSTER_MAX_SKEW_SECONDS"):
        configure(
            {"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": public_pem(key), "PAYHOOK_REVENUE_MONSTER_MAX_SKEW_SECONDS": "x"}
        )


@pytest.mark.parametrize(
    ("event", "path", "store"),
    [
        ("payment_web_online", "data.store.id", "2551293210619662240"),
        ("recurring_payment", "data.storeId", "6170506694335521334"),
    ],
)
def test_an_account_that_names_its_stores_takes_only_their_notifications(event: str, path: str, store: str) -> None:
    """Revenue Monster's server key signs every merchant's notifications: one store's genuine notification
    verifies on any account's route unless the account names its stores (data.store.id or data.storeId)."""
    key = fixture_private_key()
    body = sample(f"revenue-monster.{event}")
    headers = _lower(rm_headers(body, key))

    def account(stores: str) -> Authenticator:
        env = {"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": public_pem(key), "PAYHOOK_REVENUE_MONSTER_STORE_IDS": stores}
        verifier = configure(env)
        assert verifier is not None
        return verifier

    assert verified(account(f"111, {store}"), headers, body)
    assert verified(account(""), headers, body)
    refusal = account("111,222").refusal(headers, body)
    assert refusal == f"{path} {store!r} is not one of this account's (store_ids)"
    # The signature is still checked first: a forged body naming the right store is refused as forged.
    forged = body.replace(b"SUCCESS", b"FAILED")
    assert account(store).refusal(headers, forged) == "signature does not verify"
    storeless = json.dumps({"eventType": "PAYMENT_WEB_ONLINE", "data": {"order": {"id": "A-1"}}}).encode()
    said = account(store).refusal(_lower(rm_headers(storeless, key)), storeless)
    assert said == "the callback names none of data.store.id, data.storeId, and this account takes its store_ids only"


def test_refusals_name_what_was_wrong_without_secrets() -> None:
    key = fixture_private_key()
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, key))
    verifier = _verifier(key)
    assert verifier.refusal({**headers, "x-signature": "sha256 AAAA"}, body) == "signature does not verify"
    assert verifier.refusal(headers, b"[" * 100 + b"]" * 100) is not None
    assert (verifier.refusal(headers, b"\xff\xfe") or "").startswith("body cannot be verified")
    assert verifier.refusal({}, body) == "X-Signature, X-Nonce-Str and X-Timestamp are required"


# --- signatures over arbitrary JSON (properties) -----------------------------------------------------------


@PROPERTY
@given(doc=json_objects, layout=layouts)
def test_signed_document_verifies(doc: dict[str, JSONValue], layout: dict[str, Any]) -> None:
    assume(json_depth(doc) <= MAX_DEPTH)
    body = dumps(doc, layout)
    assert _verifier(fixture_private_key()).refusal(_lower(rm_headers(body, fixture_private_key())), body) is None


@PROPERTY
@given(doc=json_objects, signed_layout=layouts, sent_layout=layouts, rng=st.randoms(use_true_random=False))
def test_signature_survives_any_layout(
    doc: dict[str, JSONValue], signed_layout: dict[str, Any], sent_layout: dict[str, Any], rng: random.Random
) -> None:
    """Revenue Monster signs Go's re-encoding: the same document laid out another way (other whitespace,
    escapes, key order) is the same callback."""
    assume(json_depth(doc) <= MAX_DEPTH)
    headers = _lower(rm_headers(dumps(doc, signed_layout), fixture_private_key()))
    keys = list(doc)
    rng.shuffle(keys)
    reordered = {key: doc[key] for key in keys}
    assert _verifier(fixture_private_key()).refusal(headers, dumps(reordered, sent_layout)) is None


@PROPERTY
@given(pair=tampered_documents(), layout=layouts)
def test_changed_document_is_refused(pair: tuple[dict[str, JSONValue], JSONValue], layout: dict[str, Any]) -> None:
    original, changed = pair
    assume(json_depth(original) <= MAX_DEPTH and json_depth(changed) <= MAX_DEPTH)
    signed, sent = dumps(original, layout), dumps(changed, layout)
    # 1 and 1.0, or 2**53 and 2**53 + 1, are one float64 in Go: such a "change" is no change at all.
    assume(canonical_json(signed) != canonical_json(sent))
    refusal = _verifier(fixture_private_key()).refusal(_lower(rm_headers(signed, fixture_private_key())), sent)
    assert refusal == "signature does not verify"


@PROPERTY
@given(doc=json_objects, header=st.sampled_from(["x-nonce-str", "x-timestamp"]), new=json_text)
def test_changed_nonce_or_timestamp_is_refused(doc: dict[str, JSONValue], header: str, new: str) -> None:
    assume(json_depth(doc) <= MAX_DEPTH)
    body = dumps(doc, {})
    headers = _lower(rm_headers(body, fixture_private_key()))
    assume(new != headers[header])
    assert _verifier(fixture_private_key()).refusal({**headers, header: new}, body) == "signature does not verify"


@PROPERTY
@given(doc=json_objects, nonce=json_text, stamp=st.integers(min_value=0, max_value=2**40).map(str))
def test_signature_by_another_key_is_refused(
    doc: dict[str, JSONValue], nonce: str, stamp: str, generated_key: rsa.RSAPrivateKey
) -> None:
    """A well-formed signature over exactly the right string, made with a key that is not Revenue Monster's."""
    assume(json_depth(doc) <= MAX_DEPTH)
    body = dumps(doc, {})
    forged = generated_key.sign(signing_string(canonical_json(body), nonce, stamp), padding.PKCS1v15(), hashes.SHA256())
    headers = {"x-signature": "sha256 " + base64.b64encode(forged).decode(), "x-nonce-str": nonce, "x-timestamp": stamp}
    assert _verifier(fixture_private_key()).refusal(headers, body) == "signature does not verify"


@PROPERTY
@given(
    signature=st.one_of(st.binary(min_size=256, max_size=256), st.sampled_from([b"\0" * 256, b"\xff" * 256])),
    nonce=json_text,
    stamp=st.one_of(json_text, st.integers().map(str)),
    body=st.binary(max_size=512),
)
def test_random_signatures_never_verify(signature: bytes, nonce: str, stamp: str, body: bytes) -> None:
    """Signatures of the right length go all the way to the RSA check; none of them verifies."""
    headers = {
        "x-signature": "sha256 " + base64.b64encode(signature).decode(),
        "x-nonce-str": nonce,
        "x-timestamp": stamp,
    }
    refusal = _verifier(fixture_private_key()).refusal(headers, body)
    assert refusal is not None
    assert refusal == "signature does not verify" or refusal.startswith("body cannot be verified"), refusal


def test_a_lone_surrogate_in_a_header_is_refused_not_raised() -> None:
    """Regression (found by the properties): a non-text nonce made ``refusal`` raise."""
    headers = {
        "x-signature": "sha256 " + base64.b64encode(b"\0" * 256).decode(),
        "x-nonce-str": "\ud800",
        "x-timestamp": "0",
    }
    assert isinstance(_verifier(fixture_private_key()).refusal(headers, b"{}"), str)


# --- normalizing ---------------------------------------------------------------------------------------------


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sample(f"revenue-monster.{name}"))
    return doc


def _normalize(doc: dict[str, Any]) -> Any:
    return rm.normalize(json.dumps(doc).encode())


def test_samples_are_paid_payments_in_ringgit() -> None:
    web, recurring = _normalize(_doc("payment_web_online")), _normalize(_doc("recurring_payment"))
    assert (web.order_ref, web.status, web.amount, web.currency) == (
        "P000000660800",
        Status.PAID,
        Decimal("1.00"),
        "MYR",
    )
    assert (recurring.order_ref, recurring.amount) == ("SUB-2026-0001", Decimal("10.00"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("IN_PROCESS", Status.PROCESSING),
        ("SUCCESS", Status.PAID),
        ("FAILED", Status.FAILED),
        ("FULL_REFUNDED", Status.REFUNDED),
        ("PARTIAL_REFUNDED", Status.PARTIALLY_REFUNDED),
        ("REVERSED", Status.REVERSED),
    ],
)
def test_statuses_map_to_canonical(status: str, expected: Status) -> None:
    doc = _doc("payment_web_online")
    doc["data"]["status"] = status
    assert _normalize(doc).status is expected


def test_amount_is_exact_ringgit_from_sen() -> None:
    doc = _doc("payment_web_online")
    doc["data"]["order"]["amount"] = 123457
    event = _normalize(doc)
    assert event.amount == Decimal("1234.57") and event.currency == "MYR"


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d["data"].update(status="ON_FIRE"), UnknownStatus),
        (lambda d: d.update(eventType="REFUND_ONLINE"), UnknownEvent),
        (lambda d: d["data"]["order"].update(amount=100.5), InvalidAmount),
        (lambda d: d["data"].pop("transactionId"), MissingField),
    ],
    ids=["unknown-status", "unknown-event", "fractional-sen", "missing-transaction"],
)
def test_bad_callbacks_raise_a_named_normalize_error(mutate: Any, error: type[Exception]) -> None:
    doc = _doc("payment_web_online")
    mutate(doc)
    with pytest.raises(error) as caught:
        _normalize(doc)
    assert isinstance(caught.value, NormalizeError) and caught.value.message
