"""Revenue Monster (Malaysia): RSA-SHA256 signed notifications, sent only for successful payments.

The signature covers a canonical re-encoding of the body (see ``shared.providers._gojson``), never the raw bytes, so a
body pretty-printed or with its keys in another order still verifies.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.canonical import CanonicalEvent, InvalidAmount, Status, UnknownEvent, UnknownStatus
from shared.env import SettingsError
from shared.providers import Header, Provider, Signer
from shared.providers._auth import optional_seconds, within
from shared.providers._fields import currency, decimal_amount, get, optional_text, parse_object, text, timestamp
from shared.providers._gojson import CanonicalError, canonical_json

NAME = "revenue-monster"
KEY_VARIABLE = "PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY"
KEY_FILE_VARIABLE = KEY_VARIABLE + "_FILE"
_SEN_PER_RINGGIT = Decimal(100)
_CENTS = Decimal("0.01")

_SHORT_ESCAPE = re.compile(rb"\\.")
_LEGACY = {b"\\b": b"\\u0008", b"\\f": b"\\u000c"}
SKEW_VARIABLE = "PAYHOOK_REVENUE_MONSTER_MAX_SKEW_SECONDS"
_PADDING = padding.PKCS1v15()
_HASH = hashes.SHA256()

_STATUSES = {
    "IN_PROCESS": Status.PROCESSING,
    "SUCCESS": Status.PAID,
    "FAILED": Status.FAILED,
    "FULL_REFUNDED": Status.REFUNDED,
    "PARTIAL_REFUNDED": Status.PARTIALLY_REFUNDED,
    "REVERSED": Status.REVERSED,
}


def signing_string(canonical_body: bytes, nonce: str, timestamp_: str) -> bytes:
    """The string Revenue Monster signs for a notification (``requestUrl`` is left out for callbacks)."""
    data = base64.b64encode(canonical_body).decode("ascii")
    return f"data={data}&method=post&nonceStr={nonce}&signType=sha256&timestamp={timestamp_}".encode()


class RsaSignatureAuthenticator:
    """Verifies ``X-Signature: sha256 <base64>`` against every configured server public key.

    ``max_skew_seconds`` (off by default) also refuses callbacks whose ``X-Timestamp`` is further than that
    from now. Replays are harmless without it (deduplication absorbs them), and Revenue Monster never
    retries, so a window only costs callbacks delayed in transit or sent by a server whose clock drifts.
    """

    def __init__(self, keys: tuple[rsa.RSAPublicKey, ...], max_skew_seconds: float | None = None) -> None:
        self._keys = keys
        self._sizes = {key.key_size // 8 for key in keys}
        self._max_skew = max_skew_seconds

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        header = headers.get("x-signature")
        nonce = headers.get("x-nonce-str")
        stamp = headers.get("x-timestamp")
        if not header or nonce is None or stamp is None:
            return "X-Signature, X-Nonce-Str and X-Timestamp are required"
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "sha256":
            return "X-Signature must be 'sha256 <base64>'"
        try:
            signature = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return "X-Signature is not base64"
        if len(signature) not in self._sizes:  # cheap: no parsing for a signature no key could have made
            return "signature does not verify"
        if self._max_skew is not None and not within(stamp, self._max_skew):
            return "X-Timestamp is outside the accepted window"
        try:
            canonical = canonical_json(body)
        except CanonicalError as exc:
            return f"body cannot be verified: {exc.args[0][:80]}"
        try:
            if self._verifies(signature, signing_string(canonical, nonce, stamp)):
                return None
            legacy = _legacy_escapes(canonical)
            if legacy is not None and self._verifies(signature, signing_string(legacy, nonce, stamp)):
                return None
        except UnicodeEncodeError:
            return "X-Nonce-Str and X-Timestamp must be text"
        return "signature does not verify"

    def _verifies(self, signature: bytes, message: bytes) -> bool:
        for key in self._keys:
            try:
                key.verify(signature, message, _PADDING, _HASH)
            except InvalidSignature:
                continue
            return True
        return False


def _legacy_escapes(canonical: bytes) -> bytes | None:
    """Go before 1.22 wrote U+0008 and U+000C as \\u0008 and \\u000c, not \\b and \\f. A server on an older
    Go signs that form; the (rare) body holding these characters is tried both ways."""
    if b"\\b" not in canonical and b"\\f" not in canonical:
        return None
    return _SHORT_ESCAPE.sub(lambda m: _LEGACY.get(m.group(0), m.group(0)), canonical)


def _load_keys(pem: str, variable: str) -> tuple[rsa.RSAPublicKey, ...]:
    # Environments often carry PEM text on one line with literal "\n".
    pem = pem.replace("\\n", "\n")
    blocks = [b for b in pem.split("-----BEGIN ") if b.strip()]
    if not blocks:
        raise SettingsError(f"{variable} holds no PEM public key")
    keys: list[rsa.RSAPublicKey] = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(("-----BEGIN " + block).encode())
        except (ValueError, UnsupportedAlgorithm):
            raise SettingsError(f"{variable} is not a PEM public key (BEGIN PUBLIC KEY)") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise SettingsError(f"{variable} must be an RSA public key")
        keys.append(key)
    return tuple(keys)


def configure(env: Mapping[str, str]) -> RsaSignatureAuthenticator | None:
    pem = env.get(KEY_VARIABLE, "").strip()
    path = env.get(KEY_FILE_VARIABLE, "").strip()
    if pem and path:
        raise SettingsError(f"set {KEY_VARIABLE} or {KEY_FILE_VARIABLE}, not both")
    if path:
        try:
            pem = Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"{KEY_FILE_VARIABLE}: cannot read {path!r}: {exc.strerror}") from None
        return RsaSignatureAuthenticator(_load_keys(pem, KEY_FILE_VARIABLE), optional_seconds(env, SKEW_VARIABLE))
    if pem:
        return RsaSignatureAuthenticator(_load_keys(pem, KEY_VARIABLE), optional_seconds(env, SKEW_VARIABLE))
    return None


def sign_headers(
    body: bytes, key: rsa.RSAPrivateKey, *, nonce: str | None = None, stamp: str | None = None
) -> dict[str, str]:
    """The headers Revenue Monster sends with ``body``, signed with ``key`` (tests and demos)."""
    nonce = nonce or secrets.token_hex(16)
    stamp = stamp or str(int(time.time()))
    signature = key.sign(signing_string(canonical_json(body), nonce, stamp), _PADDING, _HASH)
    return {
        "Content-Type": "application/json",
        "X-Signature": "sha256 " + base64.b64encode(signature).decode(),
        "X-Nonce-Str": nonce,
        "X-Timestamp": stamp,
    }


def test_key(folder: Path) -> rsa.RSAPrivateKey:
    """The throwaway key pair in ``folder`` (``revenue-monster-test-private.pem``), made on first use."""
    path = folder / "revenue-monster-test-private.pem"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = made.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def public_pem(key: rsa.RSAPrivateKey) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode()


def test_signer(folder: Path) -> Signer:
    key = test_key(folder)
    return Signer(public_pem(key), lambda body: (body, sign_headers(body, key)))


def _sen(value: Any, path: str) -> Decimal:
    """Integer sen to ringgit, exactly."""
    sen = decimal_amount(value, path)
    if sen != sen.to_integral_value():
        raise InvalidAmount(f"{path} must be a whole number of sen, got {sen}")
    return (sen / _SEN_PER_RINGGIT).quantize(_CENTS)


def _recurring_charge(doc: dict[str, Any], order_id: str) -> str:
    """A recurring charge without a transaction id is told apart from the next charge by its time."""
    return f"{order_id}:{get(doc, 'data.createdAt', required=False)}"


def normalize(body: bytes) -> CanonicalEvent:
    doc = parse_object(body)
    event = text(doc, "eventType", max_length=64)
    raw_status = text(doc, "data.status", max_length=64)
    status = _STATUSES.get(raw_status)
    if status is None:
        raise UnknownStatus(f"unknown Revenue Monster status {raw_status!r}")
    transaction_id: str | None
    if event == "PAYMENT_WEB_ONLINE":
        order_id = text(doc, "data.order.id")
        transaction_id = text(doc, "data.transactionId")
        amount = _sen(get(doc, "data.order.amount"), "data.order.amount")
        code = currency(doc, "data.currencyType")
    elif event == "RECURRING_PAYMENT":
        order_id = text(doc, "data.orderId")
        transaction_id = optional_text(doc, "data.transactionId")
        amount = _sen(get(doc, "data.amount"), "data.amount")
        code = currency(doc, "data.currency")
    else:
        raise UnknownEvent(f"unknown Revenue Monster event {event!r}")
    return CanonicalEvent(
        provider=NAME,
        event_type=event,
        event_key=f"{event}:{transaction_id or _recurring_charge(doc, order_id)}:{raw_status}",
        payment_key=order_id,
        order_ref=order_id,
        status=status,
        amount=amount,
        currency=code,
        provider_payment_id=transaction_id,
        occurred_at=timestamp(doc, "data.updatedAt"),
    )


PROVIDER = Provider(
    name=NAME,
    title="Revenue Monster (Malaysia)",
    credential=KEY_VARIABLE,
    configure=configure,
    normalize=normalize,
    auth_headers=(
        Header("X-Signature", "'sha256 <base64>': RSA-SHA256 over the signing string of the canonical body"),
        Header("X-Nonce-Str", "the nonce in the signing string"),
        Header("X-Timestamp", "Unix seconds, in the signing string"),
    ),
    kept_headers=("content-type", "x-signature", "x-nonce-str", "x-timestamp"),
    statuses=_STATUSES,
    signature_covers=("*",),
    test_signer=test_signer,
    example="payment_web_online",
    description=(
        "Revenue Monster signs Go's canonical re-encoding of the body with its server key (RSA-SHA256), so a "
        "body laid out differently still verifies. It sends notifications for PAYMENT_WEB_ONLINE and "
        "RECURRING_PAYMENT and never retries one."
    ),
    options=(KEY_FILE_VARIABLE, SKEW_VARIABLE),
    event_type_at=("eventType",),
    order_ref_at=("data.order.id", "data.orderId"),
)
