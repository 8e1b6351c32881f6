"""Revenue Monster (Malaysia): RSA-SHA256 signed notifications, sent only for successful payments.

The signature covers a canonical re-encoding of the body (see ``shared.providers._gojson``), never the raw bytes, so a
body pretty-printed or with its keys in another order still verifies.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.canonical import CanonicalEvent, InvalidAmount, NormalizeError, Status, UnknownEvent, UnknownStatus
from shared.providers import Authenticator, Header, Provider, Signer, _auth
from shared.providers._api import basic, dig, document, lifetime, malformed, refused, token_name, with_bearer
from shared.providers._auth import kept_rsa_key, optional_seconds, public_pem, rsa_private_key, rsa_public_keys, within
from shared.providers._fields import currency, decimal_amount, get, optional_text, parse_object, text, timestamp
from shared.providers._gojson import CanonicalError, canonical_json, legacy_escapes
from shared.status_api import Answer, ApiContext, Client, PaymentRef, Reply, StatusApi, Verdict

NAME = "revenue-monster"
KEY_VARIABLE = "PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY"
KEY_FILE_VARIABLE = KEY_VARIABLE + "_FILE"
_SEN_PER_RINGGIT = Decimal(100)
_CENTS = Decimal("0.01")

SKEW_VARIABLE = "PAYHOOK_REVENUE_MONSTER_MAX_SKEW_SECONDS"
# Revenue Monster signs every merchant's notifications with its one server key: a genuine notification of one
# merchant verifies on any account's route. An account that names its stores takes only their notifications.
STORES_VARIABLE = "PAYHOOK_REVENUE_MONSTER_STORE_IDS"
_STORE_AT = ("data.store.id", "data.storeId")
API_URL_VARIABLE = "PAYHOOK_REVENUE_MONSTER_API_URL"
OAUTH_URL_VARIABLE = "PAYHOOK_REVENUE_MONSTER_OAUTH_URL"
CLIENT_ID_VARIABLE = "PAYHOOK_REVENUE_MONSTER_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "PAYHOOK_REVENUE_MONSTER_CLIENT_SECRET"  # noqa: S105 - a variable's name
PRIVATE_KEY_VARIABLE = "PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY"
DEFAULTS = {API_URL_VARIABLE: "https://open.revenuemonster.my", OAUTH_URL_VARIABLE: "https://oauth.revenuemonster.my"}
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
            legacy = legacy_escapes(canonical)
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


def configure(env: Mapping[str, str]) -> Authenticator | None:
    found = _auth.pem_setting(env, KEY_VARIABLE)
    if found is None:
        return None
    verifier = RsaSignatureAuthenticator(rsa_public_keys(*found), optional_seconds(env, SKEW_VARIABLE))
    return _auth.scoped(verifier, env.get(STORES_VARIABLE, ""), _STORE_AT, "store_ids")


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
    """The throwaway key pair standing in for Revenue Monster's server key, kept in ``folder``."""
    return kept_rsa_key(folder, "revenue-monster-test-private.pem")


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


# --- the status API (STATUS_APIS.md §2): OAuth tokens, and every request signed with the merchant's key ---------

_MALAYSIA = timezone(timedelta(hours=8))
_EXPIRED_TOKEN = frozenset({"TOKEN_EXPIRED", "TOKEN_INVALID"})
_RATE_LIMITED = frozenset({"EXCEEDED_LIMIT", "TOO_MANY_REQUEST_PER_SECOND"})
_REFUNDS = frozenset({Status.REFUNDED, Status.PARTIALLY_REFUNDED})


def request_signing_string(method: str, url: str, body: bytes | None, nonce: str, stamp: str) -> bytes:
    """The string signed for an API request: ``data`` (base64 of the body's canonical JSON, left out for an empty
    body), the lower-case method, the nonce, the exact URL called with its query, the timestamp."""
    parts = []
    if body and body.strip() not in (b"{}", b"null"):
        parts.append("data=" + base64.b64encode(canonical_json(body)).decode("ascii"))
    parts += [f"method={method.lower()}", f"nonceStr={nonce}", f"requestUrl={url}", "signType=sha256"]
    return "&".join([*parts, f"timestamp={stamp}"]).encode()


class RevenueMonsterStatusClient:
    """``GET /v3/payment/transaction/order/{orderId}`` and the daily settlement report, each request signed with
    the merchant's private key under an OAuth client-credentials token (about 30 days, shared)."""

    def __init__(self, api: ApiContext, env: Mapping[str, str], key: rsa.RSAPrivateKey) -> None:
        self._api, self._key = api, key
        self._base = (env.get(API_URL_VARIABLE, "").strip() or DEFAULTS[API_URL_VARIABLE]).rstrip("/")
        self._oauth = (env.get(OAUTH_URL_VARIABLE, "").strip() or DEFAULTS[OAUTH_URL_VARIABLE]).rstrip("/")
        client_id, secret = env[CLIENT_ID_VARIABLE].strip(), env[CLIENT_SECRET_VARIABLE].strip()
        self._basic = basic(client_id, secret)
        self._token = token_name(NAME, self._oauth, client_id, secret)

    async def query(self, ref: PaymentRef) -> Answer:
        reply = await self._call("GET", f"/v3/payment/transaction/order/{quote(ref.order_ref or ref.payment_key)}")
        if isinstance(reply, Answer):
            return reply
        doc, code = _error(reply)
        if code == "TRANSACTION_NOT_FOUND":
            recent = ref.created_at is not None and self._api.clock() - ref.created_at.timestamp() < 1800
            return Answer(Verdict.NOT_FOUND, code + (" (inside the checkout window)" if recent else ""), raw=reply.body)
        problem = refused(reply, self._api.clock(), rate_limited=code in _RATE_LIMITED)
        if problem is not None:
            return problem
        item = dig(doc, "item")
        if reply.status != 200 or dig(doc, "code") != "SUCCESS" or not isinstance(item, dict):
            return malformed(reply, f"no transaction ({str(code)[:40]})")
        try:
            event = _api_event(item)
        except NormalizeError as exc:
            return malformed(reply, exc.message)
        return Answer(Verdict.FOUND, event.event_type, event, reply.body)

    async def refunded_on(self, day: date) -> list[str] | None:
        """Order ids of the transactions the daily settlement report lists as refunded on ``day``."""
        found: list[str] = []
        cursor = ""
        while True:
            request = {
                "transactionType": "REFUND",
                "date": day.isoformat(),
                "method": [],
                "region": [],
                "cursor": cursor,
            }
            reply = await self._call("POST", "/v3/payment/reconciliation", orjson.dumps(request))
            if isinstance(reply, Answer) or reply.status != 200:
                return None
            doc = document(reply)
            items = dig(doc, "items")
            if not isinstance(items, list):
                return None
            found += [str(i["orderId"]) for i in items if isinstance(i, dict) and isinstance(i.get("orderId"), str)]
            cursor = dig(doc, "meta.cursor")
            if not isinstance(cursor, str) or not cursor:
                return found

    async def _call(self, method: str, path: str, body: bytes | None = None) -> Reply | Answer:
        async def call(token: str) -> Reply | Answer:
            url = self._base + path
            nonce, stamp = secrets.token_hex(16), str(int(self._api.clock()))
            signature = self._key.sign(request_signing_string(method, url, body, nonce, stamp), _PADDING, _HASH)
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "X-Signature": "sha256 " + base64.b64encode(signature).decode("ascii"),
                "X-Nonce-Str": nonce,
                "X-Timestamp": stamp,
            }
            return await self._api.send(method.upper(), url, headers=headers, body=body)

        return await with_bearer(self._api, self._token, self._fetch_token, call, _token_refused)

    async def _fetch_token(self) -> tuple[str, float] | Answer:
        headers = {"Authorization": self._basic, "Content-Type": "application/json"}
        body = orjson.dumps({"grantType": "client_credentials"})
        reply = await self._api.send("POST", self._oauth + "/v1/token", headers=headers, body=body)
        if isinstance(reply, Answer):
            return reply
        doc, code = _error(reply)
        problem = refused(reply, self._api.clock(), rate_limited=code in _RATE_LIMITED)
        token = dig(doc, "accessToken")
        if problem is not None or reply.status != 200 or not isinstance(token, str) or not token:
            return problem or Answer.unavailable(f"HTTP {reply.status}: no access token ({str(code)[:40]})")
        return token, lifetime(dig(doc, "expiresIn"), default=3600.0)


def _error(reply: Reply) -> tuple[Any, str | None]:
    doc = document(reply)
    code = dig(doc, "error.code")
    return doc, code if isinstance(code, str) else None


def _token_refused(reply: Reply) -> bool:
    return reply.status == 401 or _error(reply)[1] in _EXPIRED_TOKEN


def _api_event(item: dict[str, Any]) -> CanonicalEvent:
    word = text(item, "status", max_length=64)
    status = _STATUSES.get(word)
    if status is None:
        raise UnknownStatus(f"unknown Revenue Monster status {word!r}")
    order_id = text(item, "order.id")
    refunded = None
    if status in _REFUNDS:
        # balanceAmount is what is left of the sale: the rest went back.
        final, balance = (_sen(get(item, name), name) for name in ("finalAmount", "balanceAmount"))
        refunded = final - balance
    return CanonicalEvent(
        provider=NAME,
        event_type=word,
        event_key=f"api:{order_id}:{status}:{refunded or ''}",
        payment_key=order_id,
        order_ref=order_id,
        status=status,
        amount=_sen(get(item, "order.amount"), "order.amount"),
        currency=currency(item, "currencyType"),
        provider_payment_id=optional_text(item, "transactionId"),
        occurred_at=timestamp(item, "updatedAt"),
        refund_amount=refunded,
    )


def _api_configured(env: Mapping[str, str]) -> bool:
    wanted = (CLIENT_ID_VARIABLE, CLIENT_SECRET_VARIABLE)
    key = env.get(PRIVATE_KEY_VARIABLE, "").strip() or env.get(PRIVATE_KEY_VARIABLE + "_FILE", "").strip()
    return bool(key) and all(env.get(name, "").strip() for name in wanted)


def configure_api(env: Mapping[str, str], api: ApiContext) -> Client | None:
    if not _api_configured(env):
        return None
    client = RevenueMonsterStatusClient(api, env, rsa_private_key(env, PRIVATE_KEY_VARIABLE))
    return Client(client, report=client)


def report_day(now: float) -> date:
    """Yesterday in Malaysia: the latest day whose settlement report is complete."""
    return (datetime.fromtimestamp(now, _MALAYSIA) - timedelta(days=1)).date()


STATUS_API = StatusApi(
    settings=(API_URL_VARIABLE, OAUTH_URL_VARIABLE, CLIENT_ID_VARIABLE, CLIENT_SECRET_VARIABLE, PRIVATE_KEY_VARIABLE),
    configure=configure_api,
    configured=_api_configured,
    report_day=report_day,
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
    options=(KEY_FILE_VARIABLE, SKEW_VARIABLE, STORES_VARIABLE),
    event_type_at=("eventType",),
    order_ref_at=("data.order.id", "data.orderId"),
    status_api=STATUS_API,
)
