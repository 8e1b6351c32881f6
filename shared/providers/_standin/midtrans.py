"""Midtrans's Get Status API as documented: ``Basic base64(serverKey + ":")`` only, one key per environment
(sandbox under ``/midtrans``, production under ``/midtrans-production``, over the same transactions), and
a flat answer shaped like the notification, signed with ``signature_key``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.providers._standin.config import StandInConfig
from shared.providers._standin.core import (
    Clock,
    ControlError,
    Fault,
    Outgoing,
    Surface,
    check_fields,
    choice,
    json_response,
    local_time,
    merge_by_key,
    money,
    new_uuid,
    object_list,
    refuse_auth,
    text_field,
)

NAME = "midtrans"
STATUSES = (
    "pending",
    "authorize",
    "capture",
    "settlement",
    "deny",
    "cancel",
    "expire",
    "failure",
    "refund",
    "partial_refund",
    "chargeback",
    "partial_chargeback",
)
FRAUD_STATUSES = ("accept", "challenge", "deny")
FIELDS = (
    "transaction_id",
    "order_id",
    "gross_amount",
    "transaction_status",
    "fraud_status",
    "payment_type",
    "transaction_time",
    "settlement_time",
    "refunds",
    "currency",
)
REFUND_FIELDS = ("refund_key", "refund_amount", "created_at", "bank_confirmed_at", "reason", "refund_method")
MERCHANT_ID = "G000000001"
_TIME = "%Y-%m-%d %H:%M:%S"
_FOUND = "Success, transaction is found"
_NOTIFIED = "midtrans payment notification"
_UNAUTHORIZED = "Access denied due to unauthorized transaction, please check client key or server key"
_SERVER_ERRORS = {500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout"}


def jakarta(unix: float) -> str:
    """Midtrans prints times in Jakarta (UTC+7) with no offset."""
    return local_time(unix, 7, _TIME)


def status_code(status: str, fraud: str | None, *, notification: bool) -> str:
    """200 success, 201 pending (a challenged capture too), 202 denied; Get Status answers an expired
    transaction with 407 where the documented notifications carry 202."""
    if status == "pending" or (status == "capture" and fraud == "challenge"):
        return "201"
    if status == "expire":
        return "202" if notification else "407"
    # [inferred] failure: no sample shows it; it is a denial.
    return "202" if status in ("deny", "cancel", "failure") else "200"


def signature(order_id: str, code: str, gross_amount: str, key: str) -> str:
    return hashlib.sha512(f"{order_id}{code}{gross_amount}{key}".encode()).hexdigest()


def _answer(code: str, message: str, status: int) -> Response:
    return json_response({"status_code": code, "status_message": message, "id": new_uuid()}, status)


@dataclass
class MidtransTransaction:
    transaction_id: str
    order_id: str
    gross_amount: str
    status: str
    fraud: str | None
    payment_type: str
    currency: str
    transaction_time: str
    created: float
    settlement_time: str | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)

    def view(self, *, notification: bool = False, key: str | None = None) -> dict[str, Any]:
        code = status_code(self.status, self.fraud, notification=notification)
        view: dict[str, Any] = {
            "status_code": code,
            "status_message": _NOTIFIED if notification else _FOUND,
            "transaction_id": self.transaction_id,
            "order_id": self.order_id,
            "merchant_id": MERCHANT_ID,
            "gross_amount": self.gross_amount,
            "currency": self.currency,
            "payment_type": self.payment_type,
            "transaction_time": self.transaction_time,
            "transaction_status": self.status,
        }
        if self.fraud is not None:
            view["fraud_status"] = self.fraud
        if self.payment_type == "bank_transfer":
            view["va_numbers"] = [{"bank": "bca", "va_number": _digits(self.transaction_id, 14)}]
        if self.settlement_time is not None:
            view["settlement_time"] = self.settlement_time
        if self.refunds:
            view["refunds"] = self.refunds
            view["refund_amount"] = f"{sum(Decimal(r['refund_amount']) for r in self.refunds):.2f}"
        if key is not None:
            view["signature_key"] = signature(self.order_id, code, self.gross_amount, key)
        return view


class MidtransStandIn:
    name = NAME

    @staticmethod
    def example(sample: Mapping[str, Any]) -> dict[str, Any]:
        """The control API's fields of the payment a Midtrans callback tells of (the provider's example)."""
        return {name: value for name, value in sample.items() if name in FIELDS}

    def __init__(self, config: StandInConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._transactions: dict[str, MidtransTransaction] = {}

    # The API.

    def surfaces(self) -> list[Surface]:
        sandbox, production = self._config.midtrans_sandbox_key, self._config.midtrans_production_key
        return [
            Surface("/midtrans", self._api(sandbox, production, "sandbox")),
            Surface("/midtrans-production", self._api(production, sandbox, "production")),
        ]

    def _api(self, key: str, other: str, environment: str) -> Starlette:
        async def status(request: Request) -> Response:
            refused = _refusal(request, key, other, environment)
            if refused is not None:
                return refused
            found = self._lookup(request.path_params["id"])
            if found is None:
                return self._not_found()
            return json_response(found.view(key=key))

        async def b2b(request: Request) -> Response:
            refused = _refusal(request, key, other, environment)
            if refused is not None:
                return refused
            found = self._lookup(request.path_params["id"])
            if found is None:
                return self._not_found()
            return json_response(self._b2b(request, found, key))

        routes = [
            Route("/v2/{id}/status", status, methods=["GET"]),
            Route("/v2/{id}/status/b2b", b2b, methods=["GET"]),
        ]
        handlers = {404: _no_route, 405: _no_route}
        return Starlette(routes=routes, exception_handlers=handlers)

    def _b2b(self, request: Request, found: MidtransTransaction, key: str) -> dict[str, Any]:
        page = _number(request.query_params.get("page"), 0)
        per_page = _number(request.query_params.get("per_page"), 10) or 10
        siblings = [t for t in self._newest_first() if t.order_id == found.order_id]
        chosen = siblings[page * per_page : (page + 1) * per_page]
        return {"status_code": "200", "status_message": _FOUND, "transactions": [t.view(key=key) for t in chosen]}

    def _not_found(self) -> Response:
        # [inferred] Whether this comes with HTTP 404 or 200 is undocumented: the setting chooses.
        return _answer("404", "Transaction doesn't exist.", self._config.midtrans_not_found_status)

    def fault_response(self, fault: Fault) -> Response:
        if fault.mode.startswith("rate_limit"):
            return _answer("429", "API rate limit exceeded", 429)
        status = fault.status or 503
        return _answer(str(status), _SERVER_ERRORS.get(status, "Internal server error"), status)

    def _lookup(self, key: str) -> MidtransTransaction | None:
        """By transaction id, else the newest transaction of that order id (order ids are reusable)."""
        return self._transactions.get(key) or next((t for t in self._newest_first() if t.order_id == key), None)

    def _newest_first(self) -> list[MidtransTransaction]:
        return sorted(self._transactions.values(), key=lambda t: -t.created)

    # The control API.

    def put(self, fields: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        check_fields(fields, FIELDS, "Midtrans payment")
        now = self._clock.now()
        key = str(fields.get("transaction_id") or new_uuid())
        existing = self._transactions.get(key)
        transaction = MidtransTransaction(
            transaction_id=key,
            order_id=text_field(fields, "order_id", limit=50),
            gross_amount=f"{money(fields.get('gross_amount'), 'gross_amount'):.2f}",
            status="pending",
            fraud=None,
            payment_type=text_field(fields, "payment_type", "bank_transfer"),
            currency=text_field(fields, "currency", "IDR"),
            transaction_time=_time(fields, "transaction_time") or jakarta(now),
            created=existing.created if existing else now,
        )
        if "transaction_status" not in fields:
            raise ControlError(400, "transaction_status is required")
        self._apply(transaction, fields, now)
        self._transactions[key] = transaction
        return self.show(key), existing is None

    def patch(self, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        check_fields(fields, FIELDS, "Midtrans payment")
        if "transaction_id" in fields or "order_id" in fields:
            raise ControlError(400, "transaction_id and order_id are fixed: PUT to replace the payment")
        transaction = self._find(key)
        if "gross_amount" in fields:
            transaction.gross_amount = f"{money(fields['gross_amount'], 'gross_amount'):.2f}"
        self._apply(transaction, fields, self._clock.now())
        return self.show(transaction.transaction_id)

    def _apply(self, t: MidtransTransaction, fields: Mapping[str, Any], now: float) -> None:
        if "transaction_status" in fields:
            t.status = choice(fields, "transaction_status", STATUSES)
        if "fraud_status" in fields:
            t.fraud = None if fields["fraud_status"] is None else choice(fields, "fraud_status", FRAUD_STATUSES)
        if "payment_type" in fields:
            t.payment_type = text_field(fields, "payment_type")
        if "refunds" in fields:
            given = object_list(fields, "refunds")
            t.refunds = merge_by_key(t.refunds, given, "refund_key", lambda r: r["refund_key"], self._refund)
            if "transaction_status" not in fields and t.status in ("settlement", "capture", "partial_refund"):
                refunded = sum(Decimal(r["refund_amount"]) for r in t.refunds)
                t.status = "refund" if refunded >= Decimal(t.gross_amount) else "partial_refund"
        # A settled payment keeps its settlement time through refunds and a later deny (a reversal).
        t.settlement_time = _time(fields, "settlement_time") or t.settlement_time
        if t.status == "settlement" and t.settlement_time is None:
            t.settlement_time = jakarta(now)

    def _refund(self, current: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
        check_fields(fields, REFUND_FIELDS, "Midtrans refund")
        refund = (
            dict(current)
            if current
            else {
                "refund_chargeback_id": secrets.randbelow(900_000) + 100_000,
                "refund_key": f"rk-{uuid.uuid4().hex[:12]}",
                "created_at": jakarta(self._clock.now()),
                "reason": "",
                "refund_method": "online",
            }
        )
        if "refund_amount" in fields or current is None:
            refund["refund_amount"] = f"{money(fields.get('refund_amount'), 'refund_amount'):.2f}"
        for name in ("refund_key", "reason", "refund_method"):
            refund[name] = str(fields.get(name, refund[name]))
        for name in ("created_at", "bank_confirmed_at"):
            refund[name] = _time(fields, name) or refund.get(name)
        return {k: v for k, v in refund.items() if v is not None}

    def show(self, key: str) -> dict[str, Any]:
        return self._find(key).view(key=self._config.midtrans_sandbox_key)

    def listing(self) -> list[dict[str, Any]]:
        return [t.view(key=self._config.midtrans_sandbox_key) for t in self._newest_first()]

    def delete(self, key: str) -> None:
        del self._transactions[self._find(key).transaction_id]

    def _find(self, key: str) -> MidtransTransaction:
        found = self._lookup(key)
        if found is None:
            raise ControlError(404, f"no Midtrans transaction {key!r}")
        return found

    def notification(self, key: str, event: str | None, options: Mapping[str, Any]) -> Outgoing:
        t = self._find(key)
        if event is not None and event != t.status:
            raise ControlError(409, f"a Midtrans notification carries the current status ({t.status}), not {event}")
        body, headers = self._config.midtrans_signer.sign(orjson.dumps(t.view(notification=True)))
        return Outgoing(NAME, t.status, body, headers)

    def reset(self) -> None:
        self._transactions.clear()


def _refusal(request: Request, key: str, other: str, environment: str) -> Response | None:
    reason = _basic_refusal(request.headers.get("authorization", ""), key, other, environment)
    if reason is None:
        return None
    refuse_auth(request, reason)
    return _answer("401", _UNAUTHORIZED, 401)


def _basic_refusal(header: str, key: str, other: str, environment: str) -> str | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "no Basic authorization"
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return "Basic credentials are not base64"
    if not colon or password:
        return "Basic credentials must be the server key and an empty password"
    if secrets.compare_digest(user.encode(), key.encode()):
        return None
    if secrets.compare_digest(user.encode(), other.encode()):
        return f"the other environment's server key, on the {environment} API"
    return "wrong server key"


def _digits(seed: str, count: int) -> str:
    """A stable made-up number (a virtual account) for a transaction."""
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:count]


def _time(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        datetime.strptime(str(value), _TIME)
    except ValueError:
        raise ControlError(400, f"{name} must be 'YYYY-MM-DD HH:MM:SS' (Jakarta time), got {value!r}") from None
    return str(value)


def _number(raw: str | None, default: int) -> int:
    return int(raw) if raw is not None and raw.isdigit() else default


async def _no_route(request: Request, exc: Exception) -> Response:
    return _answer("404", "The requested resource is not found", 404)
