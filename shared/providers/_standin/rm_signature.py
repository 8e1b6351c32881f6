"""Revenue Monster's check of a merchant's signed API request, rebuilt from its documented algorithm.

The string to sign is ``data=<base64 of the canonical body>&method=<lower case>&nonceStr=<X-Nonce-Str>
&requestUrl=<the exact URL called, query string included>&signType=sha256&timestamp=<X-Timestamp>``, with
``data=`` left out for an empty, ``{}`` or ``null`` body; ``X-Signature`` is ``sha256 <base64>``, RSA
PKCS#1 v1.5 over SHA-256 with the merchant's private key. The server also refuses a timestamp more than
120 s from its clock and a nonce seen in the last 120 s.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.types import Scope

from shared.providers._gojson import CanonicalError, canonical_json
from shared.providers._standin.core import Clock

WINDOW_SECONDS = 120.0
# A timestamp this long is in milliseconds (the JS SDK sends those); seconds have ten digits until 2286.
_MILLISECOND_DIGITS = 13
_EMPTY = (b"", b"{}", b"null")


@dataclass
class Refusal:
    code: str
    reason: str
    debug: dict[str, Any] = field(default_factory=dict)


def body_data(canonical: bytes) -> str | None:
    """The ``data`` value for a canonical body, None when the documented algorithm leaves it out."""
    return None if canonical in _EMPTY else base64.b64encode(canonical).decode("ascii")


def string_to_sign(method: str, request_url: str, data: str | None, nonce: str, timestamp: str) -> str:
    parts = [] if data is None else [f"data={data}"]
    parts += [f"method={method.lower()}", f"nonceStr={nonce}", f"requestUrl={request_url}"]
    return "&".join([*parts, "signType=sha256", f"timestamp={timestamp}"])


def request_url(scope: Scope) -> str:
    """The URL the client called, as it reached the server: scheme, Host header, raw path and query."""
    headers = dict(scope.get("headers", []))
    host = headers.get(b"host", b"").decode("latin-1")
    if not host and scope.get("server"):
        host = "{}:{}".format(*scope["server"])
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    url = f"{scope['scheme']}://{host}{path.decode('latin-1')}"
    return f"{url}?{query.decode('latin-1')}" if query else url


def seconds_of(stamp: str) -> float | None:
    if not stamp.isdigit():
        return None
    return int(stamp) / 1000 if len(stamp) >= _MILLISECOND_DIGITS else float(stamp)


class RequestVerifier:
    def __init__(self, key: rsa.RSAPublicKey, clock: Clock) -> None:
        self._key = key
        self._clock = clock
        self._nonces: dict[str, float] = {}

    def reset(self) -> None:
        self._nonces.clear()

    def refusal(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> Refusal | None:
        """None when the request is signed as documented, else the error code and why."""
        nonce = headers.get("x-nonce-str", "")
        stamp = headers.get("x-timestamp", "")
        signature = _signature(headers.get("x-signature", ""))
        try:
            canonical = canonical_json(body) if body.strip() else b""
        except CanonicalError:
            return Refusal("INVALID_REQUEST_SIGNATURE", "body is not JSON, so it cannot be signed")
        documented = string_to_sign(method, url, body_data(canonical), nonce, stamp)
        debug = _debug(canonical, documented, nonce, stamp)
        seconds = seconds_of(stamp)
        now = self._clock.now()
        if seconds is None or abs(now - seconds) > WINDOW_SECONDS:
            debug["requestHeader"]["X-Timestamp"]["isValid"] = False
            return Refusal("INVALID_TIMESTAMP", f"X-Timestamp {stamp!r} is not within 120 s of {now:.0f}", debug)
        if not nonce or " " in nonce:
            return Refusal("INVALID_REQUEST_SIGNATURE", "X-Nonce-Str is missing or holds a space", debug)
        if signature is None:
            return Refusal("INVALID_REQUEST_SIGNATURE", "X-Signature must be 'sha256 <base64>'", debug)
        candidates = [string_to_sign(method, url, d, nonce, stamp) for d in _tolerated(canonical)]
        if not any(self._verifies(signature, c) for c in [documented, *candidates]):
            debug["requestHeader"]["X-Signature"]["isValid"] = False
            return Refusal("INVALID_REQUEST_SIGNATURE", "signature does not verify", debug)
        self._forget_before(now - WINDOW_SECONDS)
        if nonce in self._nonces:
            debug["requestHeader"]["X-Nonce-Str"]["isValid"] = False
            # [inferred] The docs call a repeated nonce a "duplicate request" inside the signature error.
            return Refusal("INVALID_REQUEST_SIGNATURE", "X-Nonce-Str was used in the last 120 s", debug)
        self._nonces[nonce] = now
        return None

    def _verifies(self, signature: bytes, message: str) -> bool:
        try:
            self._key.verify(signature, message.encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    def _forget_before(self, cutoff: float) -> None:
        for nonce in [n for n, seen in self._nonces.items() if seen < cutoff]:
            del self._nonces[nonce]


def _signature(header: str) -> bytes | None:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "sha256":
        return None
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _tolerated(canonical: bytes) -> list[str | None]:
    """``data`` values of the SDKs' documented deviations: the PHP SDK escapes ``'`` as ``\\u0027`` and
    sends an empty ``data=`` for an empty array (either way, an empty body is also accepted without it)."""
    tolerated: list[str | None] = []
    if b"'" in canonical:
        tolerated.append(body_data(canonical.replace(b"'", b"\\u0027")))
    if canonical in (*_EMPTY, b"[]"):
        tolerated += ["", None]
    return tolerated


def _debug(canonical: bytes, documented: str, nonce: str, stamp: str) -> dict[str, Any]:
    """What the sandbox shows with a refused signature: each step of the string it expected."""
    text = canonical.decode("utf-8", errors="replace")
    return {
        "preVerifyContent": {
            "step1": {"content": text, "remark": "Sort the json key alphabetically"},
            "step2": {"content": body_data(canonical) or "", "remark": "Encode the data using Base64 format"},
            "step3": {"content": documented, "remark": "Construct plain text parameters on this format"},
        },
        "requestHeader": {
            "X-Nonce-Str": {"currentValue": nonce, "isValid": bool(nonce) and " " not in nonce},
            "X-Signature": {"isValid": True},
            "X-Timestamp": {"currentValue": stamp, "isValid": True},
        },
    }
