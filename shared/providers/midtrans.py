"""Midtrans (Indonesia): payment notifications that carry their own signature in the body.

``signature_key`` is the hex SHA-512 of ``order_id + status_code + gross_amount + server key``, the three
values exactly as the body's strings. It covers nothing else: ``transaction_status``, ``fraud_status`` and
the refunds are unsigned, which is Midtrans's design, not ours (its Get Status API is the authority).

A payment is one ``transaction_id``; ``order_id`` is the merchant's reference, which Midtrans lets a merchant
reuse after an expiry or a cancellation. A refund sends two notifications, the second once the bank has
confirmed it; both carry the running total in ``refund_amount``. Times are Jakarta time (UTC+7) without an
offset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from shared.canonical import CanonicalEvent, NormalizeError, Status, UnknownStatus
from shared.env import SettingsError, secrets_list
from shared.providers import Provider, Signer
from shared.providers._api import basic, document, malformed, refused
from shared.providers._auth import SecretRing, kept_secret, secret_ring
from shared.providers._fields import currency, decimal_amount, get, optional_text, parse_object, text
from shared.status_api import EXPECTED_PREFIX, Answer, ApiContext, Client, PaymentRef, Reply, StatusApi, Verdict

NAME = "midtrans"
KEY_VARIABLE = "PAYHOOK_MIDTRANS_SERVER_KEY"
API_URL_VARIABLE = "PAYHOOK_MIDTRANS_API_URL"
VERIFY_VARIABLE = "PAYHOOK_MIDTRANS_VERIFY"
DEFAULT_API_URL = "https://api.midtrans.com"
SIGNED_FIELDS = ("order_id", "status_code", "gross_amount")
_JAKARTA = timezone(timedelta(hours=7))
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_STATUSES = {
    "pending": Status.PENDING,
    "authorize": Status.PROCESSING,
    "capture": Status.PAID,
    "settlement": Status.PAID,
    "deny": Status.FAILED,
    "failure": Status.FAILED,
    "cancel": Status.CANCELLED,
    "expire": Status.EXPIRED,
    "partial_refund": Status.PARTIALLY_REFUNDED,
    "refund": Status.REFUNDED,
    "chargeback": Status.REVERSED,
}
# A card capture is paid only once the fraud check accepted it (or did not run); "challenge" waits for the
# merchant's decision.
_CAPTURE_BY_FRAUD = {None: Status.PAID, "accept": Status.PAID, "challenge": Status.PROCESSING, "deny": Status.FAILED}
_REFUNDS = ("partial_refund", "refund")
# The status_code each transaction_status is sent with. status_code is signed, transaction_status is not: a
# copy whose status does not fit its code was edited (a genuine pending, 201, made "settlement"). Codes
# group several statuses, so this narrows what an edited copy can claim; Get Status decides the rest.
# ``failure`` has no documented code; an expiry comes as 202 in notifications and 407 from Get Status.
_CODES_BY_STATUS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ("capture", "settlement", "authorize", "refund", "partial_refund", "chargeback", "partial_chargeback"),
        frozenset({"200"}),
    ),
    "pending": frozenset({"201"}),
    "deny": frozenset({"202"}),
    "cancel": frozenset({"202"}),
    "expire": frozenset({"202", "407"}),
}
# A capture's code follows its fraud status: a challenged capture waits (201), a denied one was refused.
_CAPTURE_CODES = {"challenge": frozenset({"201"}), "deny": frozenset({"200", "202"})}


class SignatureKeyAuthenticator:
    """Recomputes ``signature_key`` with every configured server key (several during a rotation) and compares
    in constant time. Parsing the body is the only way to read what is signed."""

    def __init__(self, keys: SecretRing) -> None:
        self._keys = keys

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return "body is not JSON, so its signature_key cannot be checked"
        if not isinstance(doc, dict):
            return "body is not a JSON object, so its signature_key cannot be checked"
        given = doc.get("signature_key")
        if not isinstance(given, str) or not given:
            return "signature_key is missing"
        message = signing_string(doc)
        if message is None:
            return "order_id, status_code and gross_amount must be strings"
        if not self._keys.derives(given, lambda key: _signature(message, key).encode()):
            return "signature_key does not match"
        return status_misfit(doc)


def status_misfit(doc: Mapping[str, Any]) -> str | None:
    """Why the signed ``status_code`` cannot go with the unsigned ``transaction_status``, or None."""
    status, code, fraud = doc.get("transaction_status"), doc.get("status_code"), doc.get("fraud_status")
    if not isinstance(status, str) or status == "failure":
        return None  # a missing or unknown status is the normalizer's to refuse, with its reason
    expected = _CODES_BY_STATUS.get(status)
    if status == "capture" and isinstance(fraud, str):
        expected = _CAPTURE_CODES.get(fraud, expected)
    if expected is None or code in expected:
        return None
    return f"status_code {code} does not fit transaction_status {status!r} (expected {' or '.join(sorted(expected))})"


def signing_string(doc: Mapping[str, Any]) -> bytes | None:
    """``order_id + status_code + gross_amount`` as sent, or None when one of them is not a string."""
    values = [doc.get(field) for field in SIGNED_FIELDS]
    texts = [value for value in values if isinstance(value, str)]
    if len(texts) != len(values):
        return None
    return "".join(texts).encode("utf-8", errors="surrogatepass")


def _signature(message: bytes, key: bytes) -> str:
    return hashlib.sha512(message + key).hexdigest()


def configure(env: Mapping[str, str]) -> SignatureKeyAuthenticator | None:
    """Server keys separated by commas or whitespace: during a rotation, both the old and the new one."""
    keys = secret_ring(env, KEY_VARIABLE)
    return None if keys is None else SignatureKeyAuthenticator(keys)


def test_signer(folder: Path) -> Signer:
    key = kept_secret(folder, "midtrans-test-server-key", lambda: "SB-Mid-server-TEST-" + secrets.token_hex(8))
    return Signer(key, lambda body: (_signed(body, key), {"Content-Type": "application/json"}))


def _signed(body: bytes, key: str) -> bytes:
    """``body`` with the ``signature_key`` Midtrans would compute with ``key`` (unchanged when it already
    carries it, or when it has nothing to sign)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    message = signing_string(doc) if isinstance(doc, dict) else None
    if message is None:
        return body
    signature = _signature(message, key.encode())
    if doc.get("signature_key") == signature:
        return body
    doc["signature_key"] = signature
    return json.dumps(doc, indent=2).encode()


def _status(doc: dict[str, Any], transaction_status: str, fraud: str | None) -> Status:
    if transaction_status == "capture":
        if fraud not in _CAPTURE_BY_FRAUD:
            raise UnknownStatus(f"unknown Midtrans fraud_status {fraud!r} on a capture")
        return _CAPTURE_BY_FRAUD[fraud]
    if transaction_status == "deny" and get(doc, "settlement_time", required=False) is not None:
        # A settled payment denied afterwards (Permata VA, Mandiri bill, Indomaret, rarely): the money went back.
        return Status.REVERSED
    status = _STATUSES.get(transaction_status)
    if status is None:
        raise UnknownStatus(f"unknown Midtrans transaction_status {transaction_status!r}")
    return status


def _jakarta_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=_JAKARTA)
    except ValueError:
        return None


def _refunds(doc: dict[str, Any]) -> list[dict[str, Any]]:
    refunds = doc.get("refunds")
    return [r for r in refunds if isinstance(r, dict)] if isinstance(refunds, list) else []


def _occurred(doc: dict[str, Any], transaction_status: str) -> datetime | None:
    if transaction_status in _REFUNDS:
        times = [_jakarta_time(r.get("bank_confirmed_at")) or _jakarta_time(r.get("created_at")) for r in _refunds(doc)]
        return max((t for t in times if t is not None), default=None)
    if transaction_status == "settlement":
        return _jakarta_time(doc.get("settlement_time"))
    return _jakarta_time(doc.get("transaction_time"))


def normalize(body: bytes) -> CanonicalEvent:
    doc = parse_object(body)
    transaction_id = text(doc, "transaction_id")
    transaction_status = text(doc, "transaction_status", max_length=64)
    fraud = optional_text(doc, "fraud_status", max_length=64)
    status = _status(doc, transaction_status, fraud)
    refund_amount = None
    key = f"{transaction_id}:{transaction_status}:{fraud or '-'}"
    if transaction_status in _REFUNDS:
        refund_amount = decimal_amount(get(doc, "refund_amount"), "refund_amount")
        # Two notifications per refund: the bank's confirmation is a notification of its own.
        confirmed = sum(1 for r in _refunds(doc) if r.get("bank_confirmed_at"))
        key = f"{transaction_id}:{transaction_status}:{refund_amount}:{confirmed}"
    return CanonicalEvent(
        provider=NAME,
        event_type=transaction_status,
        event_key=key,
        payment_key=transaction_id,
        order_ref=text(doc, "order_id"),
        status=status,
        amount=decimal_amount(get(doc, "gross_amount"), "gross_amount"),
        currency=currency(doc, "currency") if doc.get("currency") is not None else "IDR",
        provider_payment_id=transaction_id,
        occurred_at=_occurred(doc, transaction_status),
        refund_amount=refund_amount,
    )


# --- Get Status (STATUS_APIS.md §3): the authority on what a notification claims --------------------------------


class MidtransStatusClient:
    """``GET /v2/{transaction_id or order_id}/status`` with the server key as the Basic user. The answer has a
    notification's shape, so the notification's own mapping reads it; Midtrans puts its verdict in the body's
    ``status_code`` as well as in the HTTP status (a 404 may come as either)."""

    def __init__(self, api: ApiContext, base: str, server_key: str) -> None:
        self._api, self._base, self._key = api, base.rstrip("/"), server_key
        self._headers = {"Authorization": basic(server_key, ""), "Accept": "application/json"}

    async def query(self, ref: PaymentRef) -> Answer:
        ident = ref.order_ref if ref.by_order_ref and ref.order_ref else ref.provider_payment_id or ref.payment_key
        url = f"{self._base}/v2/{quote(ident, safe='')}/status"
        reply = await self._api.send("GET", url, headers=self._headers)
        if isinstance(reply, Answer):
            return reply
        doc = document(reply)
        code = doc.get("status_code") if isinstance(doc, dict) else None
        if reply.status == 404 or code == "404":
            return Answer(Verdict.NOT_FOUND, "404 transaction doesn't exist", raw=reply.body)
        if reply.status == 401 or code == "401":
            return Answer.unavailable("HTTP 401: Midtrans refused the server key")
        problem = refused(reply, self._api.clock(), rate_limited=code == "429")
        if problem is not None:
            return problem
        if reply.status != 200 or not isinstance(doc, dict) or code not in _ANSWER_CODES:
            return malformed(reply, f"not a transaction status (status_code {str(code)[:20]!r})")
        return self._answer(doc, reply)

    def _answer(self, doc: dict[str, Any], reply: Reply) -> Answer:
        given = doc.get("signature_key")
        message = signing_string(doc)
        if isinstance(given, str) and message is not None:
            expected = _signature(message, self._key.encode())
            if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
                return malformed(reply, "its signature_key does not match the server key")
        try:
            event = normalize(reply.body)
        except NormalizeError as exc:
            return malformed(reply, exc.message)
        key = f"api:{event.payment_key}:{event.status}:{event.refund_amount or ''}"
        word = event.event_type + (f" ({doc['fraud_status']})" if isinstance(doc.get("fraud_status"), str) else "")
        return Answer(Verdict.FOUND, word, dataclasses.replace(event, event_key=key), reply.body)


# The body codes of a transaction Get Status found: ok, pending, denied, expired.
_ANSWER_CODES = frozenset({"200", "201", "202", "407"})


def _api_configured(env: Mapping[str, str]) -> bool:
    return bool(secrets_list(env.get(KEY_VARIABLE, "")))


def configure_api(env: Mapping[str, str], api: ApiContext) -> Client | None:
    keys = secrets_list(env.get(KEY_VARIABLE, ""))
    if not keys:
        return None
    # During a rotation the first key is the one Midtrans holds now.
    return Client(MidtransStatusClient(api, env.get(API_URL_VARIABLE, "").strip() or DEFAULT_API_URL, keys[0]))


def confirms_callbacks(env: Mapping[str, str]) -> bool:
    """``status-api`` (the default): a notification's status is applied only as Get Status confirms it."""
    value = env.get(VERIFY_VARIABLE, "").strip() or "status-api"
    if value not in ("status-api", "off"):
        raise SettingsError(f"{VERIFY_VARIABLE} must be status-api or off, got {value!r}")
    return value == "status-api"


def expected_key(order_ref: str, payment_id: str | None) -> str:
    """A Midtrans payment is one transaction_id; before the merchant knows it, Get Status is asked by order_id
    and the answer's transaction takes the payment over."""
    return payment_id or EXPECTED_PREFIX + order_ref


STATUS_API = StatusApi(
    settings=(API_URL_VARIABLE, KEY_VARIABLE, VERIFY_VARIABLE),
    configure=configure_api,
    configured=_api_configured,
    confirms_callbacks=confirms_callbacks,
    expected_key=expected_key,
)


PROVIDER = Provider(
    name=NAME,
    title="Midtrans (Indonesia)",
    credential=KEY_VARIABLE,
    configure=configure,
    normalize=normalize,
    auth_headers=(),
    kept_headers=("content-type",),
    statuses={
        **{name: status for name, status in _STATUSES.items() if name != "capture"},
        **{f"capture (fraud_status {fraud or 'absent'})": status for fraud, status in _CAPTURE_BY_FRAUD.items()},
        "deny (after settlement)": Status.REVERSED,
    },
    signature_covers=SIGNED_FIELDS,
    test_signer=test_signer,
    example="bank_transfer_settlement",
    description=(
        "Midtrans signs inside the body: signature_key = hex SHA-512 of order_id + status_code + gross_amount + "
        "server key. It retries a 503 four times and a 500 once, so a transient fault is always a 503."
    ),
    event_type_at=("transaction_status",),
    order_ref_at=("order_id",),
    status_api=STATUS_API,
)
