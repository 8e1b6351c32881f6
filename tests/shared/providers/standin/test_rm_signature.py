"""The stand-in's check of a merchant's signed Revenue Monster request: the documented string to sign, the
120 s window, nonces used once, the tolerated SDK deviations. No network: keys made in a temporary folder."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.providers._auth import kept_rsa_key
from shared.providers._gojson import canonical_json
from shared.providers._standin.core import Clock
from shared.providers._standin.rm_signature import RequestVerifier, body_data, request_url, seconds_of, string_to_sign

URL = "http://127.0.0.1:9/v3/payment/transaction/1"
NOW = 1_750_000_000


def _headers(key: rsa.RSAPrivateKey, body: bytes, nonce: str = "n1", stamp: str = str(NOW)) -> dict[str, str]:
    data = body_data(canonical_json(body)) if body else None
    message = string_to_sign("GET", URL, data, nonce, stamp).encode()
    signature = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    return {"x-nonce-str": nonce, "x-timestamp": stamp, "x-signature": f"sha256 {signature}"}


def _verifier(key: rsa.RSAPrivateKey) -> RequestVerifier:
    clock = Clock()
    clock.set(NOW)
    return RequestVerifier(key.public_key(), clock)


def test_the_string_to_sign_is_the_documented_one() -> None:
    assert string_to_sign("POST", "https://x/y?a=1", "ZGF0YQ==", "abc", "1") == (
        "data=ZGF0YQ==&method=post&nonceStr=abc&requestUrl=https://x/y?a=1&signType=sha256&timestamp=1"
    )
    assert (
        string_to_sign("GET", "u", None, "n", "2") == "method=get&nonceStr=n&requestUrl=u&signType=sha256&timestamp=2"
    )
    assert body_data(b"{}") is None and body_data(b"") is None
    assert body_data(b'{"a":1}') == base64.b64encode(b'{"a":1}').decode()


def test_timestamps_in_seconds_or_milliseconds() -> None:
    assert seconds_of("1750000000") == 1_750_000_000.0
    assert seconds_of("1750000000123") == 1_750_000_000.123
    assert seconds_of("-5") is None and seconds_of("") is None


def test_the_request_url_is_the_one_the_client_called() -> None:
    scope = {"scheme": "http", "headers": [(b"host", b"127.0.0.1:9")], "path": "/p", "query_string": b"a=1"}
    assert request_url(scope) == "http://127.0.0.1:9/p?a=1"
    bare = {"scheme": "http", "headers": [], "server": ("127.0.0.1", 8), "path": "/p", "raw_path": b"/p%20q"}
    assert request_url(bare) == "http://127.0.0.1:8/p%20q"


def test_a_signed_request_passes_once_and_its_nonce_is_then_refused(tmp_path: Path) -> None:
    key = kept_rsa_key(tmp_path, "merchant")
    verifier = _verifier(key)
    body = b'{"b": 2, "a": 1}'
    assert verifier.refusal("GET", URL, body, _headers(key, body)) is None
    again = verifier.refusal("GET", URL, body, _headers(key, body))
    assert again is not None and "used" in again.reason
    verifier.reset()
    assert verifier.refusal("GET", URL, body, _headers(key, body)) is None


def test_refusals_name_their_code(tmp_path: Path) -> None:
    key, other = kept_rsa_key(tmp_path, "merchant"), kept_rsa_key(tmp_path, "other")
    verifier = _verifier(key)
    stale = verifier.refusal("GET", URL, b"", _headers(key, b"", stamp=str(NOW - 121)))
    assert stale is not None and stale.code == "INVALID_TIMESTAMP"
    forged = verifier.refusal("GET", URL, b"", _headers(other, b""))
    assert forged is not None and forged.code == "INVALID_REQUEST_SIGNATURE"
    assert forged.debug["requestHeader"]["X-Signature"]["isValid"] is False
    moved = verifier.refusal("GET", URL + "?x=1", b"", _headers(key, b"", nonce="n2"))
    assert moved is not None and moved.reason == "signature does not verify"
    not_json = verifier.refusal("GET", URL, b"{", _headers(key, b"", nonce="n3"))
    assert not_json is not None and "not JSON" in not_json.reason
