"""Revenue Monster signatures: verified over the canonical form, so formatting of the body does not matter."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.gojson import canonical_json
from shared.providers import Authenticator
from shared.providers.pivot import ApiKeyAuthenticator
from shared.providers.pivot import configure as configure_pivot
from shared.providers.revenue_monster import RsaSignatureAuthenticator, configure, signing_string
from shared.settings import SettingsError
from tests.support import KEYS, fixture_private_key, public_pem, rm_headers, sample


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


def _verifier(*keys: rsa.RSAPrivateKey) -> RsaSignatureAuthenticator:
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


def test_key_file_setting_is_read_and_bad_keys_name_the_variable(tmp_path: object) -> None:
    assert configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE": str(KEYS / "revenue-monster-test-public.pem")})
    with pytest.raises(SettingsError, match="PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY"):
        configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"})
    with pytest.raises(SettingsError, match="PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE"):
        configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE": "does/not/exist.pem"})
    assert configure({}) is None


def test_pivot_key_is_compared_exactly() -> None:
    verifier = ApiKeyAuthenticator(("secret-key",))
    assert verified(verifier, {"x-api-key": "secret-key"}, b"")
    for wrong in ["", "secret-ke", "secret-key ", "SECRET-KEY", "secret-key-longer", "sécret-key"]:
        assert not verified(verifier, {"x-api-key": wrong}, b"")
    assert not verified(verifier, {}, b"")


def test_pivot_accepts_every_key_of_a_rotation() -> None:
    verifier = configure_pivot({"PAYHOOK_PIVOT_CALLBACK_KEY": "old-key, new-key"})
    assert verifier is not None
    for key in ("old-key", "new-key"):
        assert verified(verifier, {"x-api-key": key}, b"")
    assert verifier.refusal({"x-api-key": "other"}, b"") == "X-API-Key is wrong"
    assert verifier.refusal({}, b"") == "X-API-Key is missing"


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


def test_refusals_name_what_was_wrong_without_secrets() -> None:
    key = fixture_private_key()
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, key))
    verifier = _verifier(key)
    assert verifier.refusal({**headers, "x-signature": "sha256 AAAA"}, body) == "signature does not verify"
    assert verifier.refusal(headers, b"[" * 100 + b"]" * 100) is not None
    assert (verifier.refusal(headers, b"\xff\xfe") or "").startswith("body cannot be verified")
    assert verifier.refusal({}, body) == "X-Signature, X-Nonce-Str and X-Timestamp are required"
