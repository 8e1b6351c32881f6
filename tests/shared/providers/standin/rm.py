"""Signing Revenue Monster's API requests in tests, from the documented algorithm alone (not with the
stand-in's code): a misreading on either side fails a test."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.fixtures import KEYS
from tests.support.standin import StandIn


def key(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((KEYS / name).read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


MERCHANT_KEY = key("revenue-monster-merchant-test-private.pem")
# Revenue Monster's own (server) key: a valid key, but not the merchant's.
SERVER_KEY = key("revenue-monster-test-private.pem")
ORDER = "ORD20250101A"


def canonical(body: Any) -> bytes:
    """The documented canonical JSON: keys sorted at every level, compact, <, > and & escaped, / as is."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def sign(message: str, key: rsa.RSAPrivateKey = MERCHANT_KEY) -> str:
    return "sha256 " + base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signed_headers(
    method: str, url: str, token: str, body: Any = None, *, nonce: str | None = None, stamp: str | None = None
) -> dict[str, str]:
    nonce = nonce or secrets.token_hex(16)
    stamp = stamp or str(int(time.time()))
    parts = [] if body in (None, {}) else [f"data={base64.b64encode(canonical(body)).decode()}"]
    parts += [f"method={method.lower()}", f"nonceStr={nonce}", f"requestUrl={url}", "signType=sha256"]
    message = "&".join([*parts, f"timestamp={stamp}"])
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "X-Signature": sign(message),
        "X-Nonce-Str": nonce,
        "X-Timestamp": stamp,
    }


def call(standin: StandIn, method: str, path: str, token: str, body: Any = None, **signing: Any) -> httpx.Response:
    """A signed request to the Open API; ``raw`` sends other bytes than the signed body."""
    url = f"{standin.url}/revenue-monster/open{path}"
    raw = signing.pop("raw", None)
    headers = signed_headers(method, url, token, body, **signing)
    content = raw if raw is not None else (json.dumps(body, indent=2).encode() if body is not None else None)
    return standin.http.request(method, url, headers=headers, content=content)


def payment(standin: StandIn, **fields: Any) -> dict[str, Any]:
    created: dict[str, Any] = standin.sim(
        "PUT", "/revenue-monster/payments", {"orderId": ORDER, "amount": 2590, "status": "SUCCESS", **fields}
    )
    return created


def error(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code
