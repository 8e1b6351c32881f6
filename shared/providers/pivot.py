"""Pivot Payment (Indonesia): callbacks authenticated by a shared Callback API Key in ``X-API-Key``.

Pivot sends no event id; the natural keys below come from its documentation. Refund events carry a refund
object that names its payment session, and their amounts are decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from shared.canonical import CanonicalEvent, NormalizeError, Status, UnknownEvent, UnknownStatus
from shared.providers import Header, Provider, Signer
from shared.providers._api import dig, document, lifetime, malformed, refused, token_name, with_bearer
from shared.providers._auth import SecretRing, kept_secret, secret_ring
from shared.providers._fields import currency, decimal_amount, get, parse_object, text, timestamp
from shared.status_api import Answer, ApiContext, Client, PaymentRef, Reply, StatusApi, Verdict

NAME = "pivot"
KEY_VARIABLE = "PAYHOOK_PIVOT_CALLBACK_KEY"
API_URL_VARIABLE = "PAYHOOK_PIVOT_API_URL"
MERCHANT_ID_VARIABLE = "PAYHOOK_PIVOT_MERCHANT_ID"
MERCHANT_SECRET_VARIABLE = "PAYHOOK_PIVOT_MERCHANT_SECRET"  # noqa: S105 - a variable's name
DEFAULT_API_URL = "https://api.pivot-payment.com"
TEST_EVENT = "PAYMENT.TEST"

_PAYMENT_EVENTS = {
    "PAYMENT.PROCESSING": Status.PROCESSING,
    "PAYMENT.PAID": Status.PAID,
    "PAYMENT.CANCELLED": Status.CANCELLED,
}
# A refund that is not (yet) complete leaves the payment paid: money moved, and has not come back.
_REFUND_EVENTS = {
    "REFUND.PENDING": None,
    "REFUND.WAITING_BANK_TRANSFER": None,
    "REFUND.FAILED": None,
    "REFUND.CANCELLED": None,
    "REFUND.SUCCESS": Status.REFUNDED,
}


class ApiKeyAuthenticator:
    """Compares ``X-API-Key`` with every configured key in constant time (several during a rotation)."""

    def __init__(self, keys: SecretRing) -> None:
        self._keys = keys

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        given = headers.get("x-api-key")
        if not given:
            return "X-API-Key is missing"
        return None if self._keys.holds(given) else "X-API-Key is wrong"


def configure(env: Mapping[str, str]) -> ApiKeyAuthenticator | None:
    """Keys separated by commas or whitespace: during a rotation, both the old and the new one."""
    keys = secret_ring(env, KEY_VARIABLE)
    return None if keys is None else ApiKeyAuthenticator(keys)


def test_signer(folder: Path) -> Signer:
    key = kept_secret(folder, "pivot-test-key")
    return Signer(key, lambda body: (body, {"X-API-Key": key, "Content-Type": "application/json"}))


def normalize(body: bytes) -> CanonicalEvent | None:
    doc = parse_object(body)
    event = text(doc, "event", max_length=64)
    if event == TEST_EVENT:
        return None
    if event in _PAYMENT_EVENTS or event == "CHARGE.SUCCESS":
        return _payment_event(doc, event)
    if event in _REFUND_EVENTS:
        return _refund_event(doc, event)
    raise UnknownEvent(f"unknown Pivot event {event!r}")


def _payment_event(doc: dict[str, Any], event: str) -> CanonicalEvent:
    session_id = text(doc, "data.id")
    session_status = text(doc, "data.status", max_length=64)
    if event == "CHARGE.SUCCESS":
        # One charge on a MULTIPLE session: the charge is the notification, the session stays ACTIVE.
        status = Status.PAID
        key = f"{event}:{_charge_id(doc)}"
    else:
        status = _PAYMENT_EVENTS[event]
        if event == "PAYMENT.CANCELLED" and session_status == "EXPIRED":
            status = Status.EXPIRED
        key = f"{event}:{session_id}:{session_status}"
    return CanonicalEvent(
        provider=NAME,
        event_type=event,
        event_key=key,
        payment_key=session_id,
        order_ref=text(doc, "data.clientReferenceId"),
        status=status,
        amount=decimal_amount(get(doc, "data.amount.value"), "data.amount.value"),
        currency=currency(doc, "data.amount.currency"),
        provider_payment_id=session_id,
        occurred_at=timestamp(doc, "data.updatedAt"),
    )


def _charge_time(charge: Any) -> datetime:
    if not isinstance(charge, dict):
        return datetime.min.replace(tzinfo=UTC)
    return timestamp(charge, "paidAt") or timestamp(charge, "updatedAt") or datetime.min.replace(tzinfo=UTC)


def _charge_id(doc: dict[str, Any]) -> str:
    charges = get(doc, "data.chargeDetails")
    if not isinstance(charges, list) or not charges:
        raise UnknownEvent("CHARGE.SUCCESS without data.chargeDetails")
    succeeded = [c for c in charges if isinstance(c, dict) and c.get("status") == "SUCCESS"]
    latest = max(succeeded or charges, key=_charge_time)
    if not isinstance(latest, dict):
        raise UnknownEvent("CHARGE.SUCCESS with a charge that is not an object")
    return text(latest, "id")


def _refund_event(doc: dict[str, Any], event: str) -> CanonicalEvent:
    refund_id = text(doc, "data.id")
    session_id = text(doc, "data.paymentSessionId")
    refund_status = text(doc, "data.status", max_length=64)
    status = _REFUND_EVENTS[event]
    if status is None:
        status = Status.PAID
    elif get(doc, "data.isFullAmount", required=False) is not True:
        status = Status.PARTIALLY_REFUNDED
    return CanonicalEvent(
        provider=NAME,
        event_type=event,
        event_key=f"{event}:{refund_id}:{refund_status}",
        payment_key=session_id,
        order_ref=None,
        status=status,
        amount=None,
        currency=currency(doc, "data.amount.currency"),
        refund_amount=decimal_amount(get(doc, "data.amount.value"), "data.amount.value"),
        provider_payment_id=session_id,
        occurred_at=timestamp(doc, "data.updatedAt"),
    )


# --- the status API (STATUS_APIS.md §1) ------------------------------------------------------------------------

_SESSION_STATUSES = {
    "REQUIRE_PAYMENT_METHOD": Status.PENDING,
    "REQUIRE_CONFIRMATION": Status.PENDING,
    "REQUIRE_ACTION": Status.PENDING,
    "ACTIVE": Status.PENDING,
    "PROCESSING": Status.PROCESSING,
    "PAID": Status.PAID,
    "CANCELLED": Status.CANCELLED,
    "EXPIRED": Status.EXPIRED,
    # A MULTIPLE session (static VA or QR) that stopped taking charges.
    "INACTIVE": Status.EXPIRED,
}
# A session cancelled because its charge failed, or for fraud, is a failed payment, not a merchant's cancel.
_FAILED_REASONS = frozenset({"CHARGE_FAILED", "FRAUDULENT"})
_REFUND_PAGE = 100


class PivotStatusClient:
    """``GET /v2/payments/{id}`` with a 15-minute bearer token from ``POST /v1/access-token``; a paid session's
    refunds from ``GET /v1/refunds`` (refunds are not on the session object)."""

    def __init__(self, api: ApiContext, base: str, merchant_id: str, secret: str) -> None:
        self._api, self._base = api, base.rstrip("/")
        self._credentials = {"X-MERCHANT-ID": merchant_id, "X-MERCHANT-SECRET": secret}
        self._token = token_name(NAME, base, merchant_id, secret)

    async def query(self, ref: PaymentRef) -> Answer:
        if ref.by_order_ref and ref.order_ref:
            path = "/v2/payments?" + urlencode({"clientReferenceId": ref.order_ref})
        else:
            path = "/v2/payments/" + quote(ref.provider_payment_id or ref.payment_key, safe="")
        reply = await self._get(path)
        if isinstance(reply, Answer):
            return reply
        doc = document(reply)
        code = doc.get("code") if isinstance(doc, dict) else None
        if reply.status == 404 and code == "resource_missing":
            return Answer(Verdict.NOT_FOUND, "resource_missing", raw=reply.body)
        problem = refused(reply, self._api.clock(), rate_limited=code == "frequency_above_limit")
        if problem is not None:
            return problem
        session = _session(doc) if reply.status == 200 and code == "00" else None
        if session is None:
            return (
                Answer(Verdict.NOT_FOUND, "no session", raw=reply.body)
                if _empty_list(doc)
                else malformed(reply, f"not a payment session (code {str(code)[:40]!r})")
            )
        return await self._answer(session, reply)

    async def _answer(self, session: dict[str, Any], reply: Reply) -> Answer:
        try:
            status, word = _session_status(session)
            event = _api_event(session, status, word, Decimal(0))
            if status is Status.PAID:  # refunds live apart from the session
                refunded = await self._refunded(event.payment_key)
                if isinstance(refunded, Answer):
                    return refunded
                event = _api_event(session, status, word, refunded)
        except NormalizeError as exc:
            return malformed(reply, exc.message)
        return Answer(Verdict.FOUND, event.event_type, event, reply.body)

    async def _refunded(self, session_id: str) -> Decimal | Answer:
        """The sum of the session's successful refunds, page by page."""
        total, page = Decimal(0), 1
        while True:
            query = urlencode({"paymentSessionId": session_id, "page": page, "perPage": _REFUND_PAGE})
            reply = await self._get(f"/v1/refunds?{query}")
            if isinstance(reply, Answer):
                return reply
            doc = document(reply)
            problem = refused(reply, self._api.clock(), rate_limited=_code(doc) == "frequency_above_limit")
            if problem is not None:
                return problem
            refunds = doc.get("data") if isinstance(doc, dict) and reply.status == 200 else None
            if not isinstance(refunds, list):
                return malformed(reply, "the refunds are not a list")
            for refund in refunds:
                mine = isinstance(refund, dict) and refund.get("paymentSessionId") in (None, session_id)
                if mine and refund.get("status") == "SUCCESS":
                    total += decimal_amount(get(refund, "amount.value"), "refunds[].amount.value")
            pages = dig(doc, "pagination.totalPages")
            if not isinstance(pages, int) or page >= pages:
                return total
            page += 1

    async def _get(self, path: str) -> Reply | Answer:
        async def call(token: str) -> Reply | Answer:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            return await self._api.send("GET", self._base + path, headers=headers)

        return await with_bearer(self._api, self._token, self._fetch_token, call, _token_refused)

    async def _fetch_token(self) -> tuple[str, float] | Answer:
        headers = {**self._credentials, "Content-Type": "application/json", "Accept": "application/json"}
        body = orjson.dumps({"grantType": "client_credentials"})
        reply = await self._api.send("POST", self._base + "/v1/access-token", headers=headers, body=body)
        if isinstance(reply, Answer):
            return reply
        doc = document(reply)
        problem = refused(reply, self._api.clock(), rate_limited=_code(doc) == "frequency_above_limit")
        if problem is not None:
            return problem
        token = dig(doc, "data.accessToken")
        if reply.status != 200 or not isinstance(token, str) or not token:
            return Answer.unavailable(f"HTTP {reply.status}: no access token ({str(_code(doc))[:40]})")
        return token, lifetime(dig(doc, "data.expiresIn"), default=900.0)


def _code(doc: Any) -> Any:
    return doc.get("code") if isinstance(doc, dict) else None


def _token_refused(reply: Reply) -> bool:
    return reply.status == 401


def _empty_list(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("code") == "00" and doc.get("data") == []


def _session(doc: Any) -> dict[str, Any] | None:
    """The session of a reply by id (an object) or by reference (a list: the latest one)."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, list):
        sessions = [s for s in data if isinstance(s, dict)]
        return max(sessions, key=lambda s: str(s.get("createdAt") or ""), default=None)
    return data if isinstance(data, dict) else None


def _session_status(session: dict[str, Any]) -> tuple[Status, str]:
    word = text(session, "status", max_length=64)
    status = _SESSION_STATUSES.get(word)
    if status is None:
        raise UnknownStatus(f"unknown Pivot session status {word!r}")
    if status is Status.CANCELLED and session.get("cancellationReason") in _FAILED_REASONS:
        status = Status.FAILED
    return status, word


def _api_event(session: dict[str, Any], status: Status, word: str, refunded: Decimal) -> CanonicalEvent:
    session_id = text(session, "id")
    amount = decimal_amount(get(session, "amount.value"), "amount.value")
    refund_amount = refunded if refunded > 0 else None
    if refund_amount is not None:
        full = refunded >= amount
        status, word = (
            (Status.REFUNDED, "PAID, refunded") if full else (Status.PARTIALLY_REFUNDED, "PAID, part refunded")
        )
    return CanonicalEvent(
        provider=NAME,
        event_type=word,
        event_key=f"api:{session_id}:{status}:{refund_amount or ''}",
        payment_key=session_id,
        order_ref=text(session, "clientReferenceId"),
        status=status,
        amount=amount,
        currency=currency(session, "amount.currency"),
        provider_payment_id=session_id,
        occurred_at=timestamp(session, "updatedAt"),
        refund_amount=refund_amount,
    )


def _api_configured(env: Mapping[str, str]) -> bool:
    return bool(env.get(MERCHANT_ID_VARIABLE, "").strip() and env.get(MERCHANT_SECRET_VARIABLE, "").strip())


def configure_api(env: Mapping[str, str], api: ApiContext) -> Client | None:
    if not _api_configured(env):
        return None
    base = env.get(API_URL_VARIABLE, "").strip() or DEFAULT_API_URL
    merchant_id, secret = env[MERCHANT_ID_VARIABLE].strip(), env[MERCHANT_SECRET_VARIABLE].strip()
    return Client(PivotStatusClient(api, base, merchant_id, secret))


def expected_key(order_ref: str, payment_id: str | None) -> str:
    """A Pivot payment is its payment session: queried by the session's id, which the merchant has."""
    if not payment_id:
        raise ValueError("a Pivot payment is queried by its payment session id: give it (--payment-id)")
    return payment_id


STATUS_API = StatusApi(
    settings=(API_URL_VARIABLE, MERCHANT_ID_VARIABLE, MERCHANT_SECRET_VARIABLE),
    configure=configure_api,
    configured=_api_configured,
    expected_key=expected_key,
)


PROVIDER = Provider(
    name=NAME,
    title="Pivot Payment (Indonesia)",
    credential=KEY_VARIABLE,
    configure=configure,
    normalize=normalize,
    auth_headers=(Header("X-API-Key", "the Callback API Key from Pivot's dashboard"),),
    kept_headers=("content-type",),
    statuses={
        **_PAYMENT_EVENTS,
        "PAYMENT.CANCELLED (data.status EXPIRED)": Status.EXPIRED,
        "CHARGE.SUCCESS": Status.PAID,
        **{event: status or Status.PAID for event, status in _REFUND_EVENTS.items()},
        "REFUND.SUCCESS (isFullAmount false)": Status.PARTIALLY_REFUNDED,
    },
    signature_covers=(),
    test_signer=test_signer,
    example="payment_paid",
    description=(
        "Pivot sends the Callback API Key in X-API-Key (it authenticates the sender, not the body). "
        "GET on the same URL answers 200: Pivot checks a callback URL when it is registered. "
        "PAYMENT.TEST is accepted and changes no payment."
    ),
    event_type_at=("event",),
    order_ref_at=("data.clientReferenceId", "data.paymentSessionId"),
    status_api=STATUS_API,
)
