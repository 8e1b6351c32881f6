"""Revenue Monster signatures: verified over the canonical form, so formatting of the body does not matter."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.providers.pivot import ApiKeyAuthenticator
from shared.providers.revenue_monster import RsaSignatureAuthenticator, configure
from shared.settings import SettingsError
from tests.support import KEYS, fixture_private_key, public_pem, rm_headers, sample


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
    assert _verifier(key).verify(_lower(rm_headers(body, key)), body)


def test_pretty_printed_or_reordered_body_still_verifies(key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.recurring_payment")
    headers = _lower(rm_headers(body, key))
    doc = json.loads(body)
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=7).encode()
    compact = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    assert _verifier(key).verify(headers, reordered)
    assert _verifier(key).verify(headers, compact)


@pytest.mark.parametrize("field", ["x-signature", "x-nonce-str", "x-timestamp"])
def test_missing_signature_header_fails(key: rsa.RSAPrivateKey, field: str) -> None:
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, key))
    del headers[field]
    assert not _verifier(key).verify(headers, body)


def test_tampered_body_nonce_or_timestamp_fails(key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, key, nonce="abc", stamp="1700000000"))
    verifier = _verifier(key)
    assert verifier.verify(headers, body)
    assert not verifier.verify(headers, body.replace(b'"amount": 100', b'"amount": 10000'))
    assert not verifier.verify({**headers, "x-nonce-str": "abd"}, body)
    assert not verifier.verify({**headers, "x-timestamp": "1700000001"}, body)
    assert not verifier.verify({**headers, "x-signature": "sha256 !!notbase64"}, body)
    assert not verifier.verify({**headers, "x-signature": headers["x-signature"].replace("sha256", "md5")}, body)
    assert not verifier.verify(headers, b"not json at all")


def test_signature_of_another_key_fails(generated_key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.payment_web_online")
    headers = _lower(rm_headers(body, generated_key))
    assert not _verifier(fixture_private_key()).verify(headers, body)


def test_any_configured_key_verifies_during_rotation(generated_key: rsa.RSAPrivateKey) -> None:
    body = sample("revenue-monster.payment_web_online")
    verifier = _verifier(fixture_private_key(), generated_key)
    assert verifier.verify(_lower(rm_headers(body, generated_key)), body)
    assert verifier.verify(_lower(rm_headers(body, fixture_private_key())), body)


def test_key_file_setting_is_read_and_bad_keys_name_the_variable(tmp_path: object) -> None:
    assert configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE": str(KEYS / "revenue-monster-test-public.pem")})
    with pytest.raises(SettingsError, match="PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY"):
        configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"})
    with pytest.raises(SettingsError, match="PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE"):
        configure({"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE": "does/not/exist.pem"})
    assert configure({}) is None


def test_pivot_key_is_compared_exactly() -> None:
    verifier = ApiKeyAuthenticator(("secret-key",))
    assert verifier.verify({"x-api-key": "secret-key"}, b"")
    for wrong in ["", "secret-ke", "secret-key ", "SECRET-KEY", "secret-key-longer", "sécret-key"]:
        assert not verifier.verify({"x-api-key": wrong}, b"")
    assert not verifier.verify({}, b"")
