"""Revenue Monster's OAuth server and Open API as documented: client-credential and refresh-token grants,
then every API request signed (see ``rm_signature``), transactions by id and by order, checkouts, and the
daily settlement report. Failures are ``{"error": {"code", "message", "debug"?}}``."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.providers._standin import rm_state
from shared.providers._standin.config import StandInConfig
from shared.providers._standin.core import (
    ApiRefusal,
    Clock,
    ControlError,
    Fault,
    Outgoing,
    Surface,
    bearer,
    endpoint,
    iso,
    json_object,
    json_response,
    refuse_auth,
)
from shared.providers._standin.rm_signature import RequestVerifier, request_url
from shared.providers._standin.rm_state import RmTransaction

NAME = "revenue-monster"
EVENT = "PAYMENT_WEB_ONLINE"
_MESSAGES = {
    "TOKEN_EXPIRED": "Invalid or expired token",
    "TOKEN_INVALID": "Unable to verify your credentials",
    "TRANSACTION_NOT_FOUND": "No payment transaction",
    "INVALID_REQUEST_SIGNATURE": "The request signature is invalid",
    "INVALID_TIMESTAMP": "Could not authenticate - Timestamp",
    "INVALID_PARAMETER": "Invalid parameters",
    "EXCEEDED_LIMIT": "Rate limit exceeded",
    "TOO_MANY_REQUEST_PER_SECOND": "Reached maximum request limit per second",
    "INTERNAL_ERROR": "Internal error",
    "API_ENDPOINT_NOT_FOUND": "The api endpoint does not exist",
    "InvalidRequest": "The request is missing a required parameter or is otherwise malformed",
    "InvalidClient": "Invalid client",
    "InvalidGrant": "Invalid grant",
    "UnSupportedGrantType": "Unsupported grant type",
}


def error(status: int, code: str, debug: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": _MESSAGES.get(code, code)}}
    if debug:
        body["debug"] = debug
    return json_response(body, status)


class RevenueMonsterStandIn:
    name = NAME

    @staticmethod
    def example(sample: Mapping[str, Any]) -> dict[str, Any]:
        """The control API's fields of the payment a Revenue Monster callback tells of (the provider's example)."""
        data = sample["data"]
        order = data["order"]
        return {
            "transactionId": data["transactionId"],
            "orderId": order["id"],
            "amount": order["amount"],
            "status": data["status"],
        }

    def __init__(self, config: StandInConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._verifier = RequestVerifier(config.rm_merchant_key, clock)
        self._tokens: dict[str, float] = {}
        self._refresh_tokens: dict[str, float] = {}
        self._transactions: dict[str, RmTransaction] = {}

    # The API.

    def surfaces(self) -> list[Surface]:
        handlers = {404: _no_route, 405: _no_route}
        oauth = Starlette(
            routes=[Route("/v1/token", endpoint(self._token), methods=["POST"])],
            exception_handlers=handlers,
        )
        return [Surface("/revenue-monster/oauth", oauth, ("*",)), Surface("/revenue-monster/open", self.open_api())]

    def open_api(self) -> Starlette:
        """The Open API on its own (a test may serve it at Revenue Monster's documented URLs)."""
        routes = [
            Route("/v3/payment/transaction/order/{order_id}", self._signed(self._by_order), methods=["GET"]),
            Route("/v3/payment/transaction/{transaction_id}", self._signed(self._by_id), methods=["GET"]),
            Route("/v3/payment/online", self._signed(self._checkout), methods=["GET"]),
            Route("/v3/payment/reconciliation", self._signed(self._reconciliation), methods=["POST"]),
        ]
        return Starlette(routes=routes, exception_handlers={404: _no_route, 405: _no_route})

    def fault_response(self, fault: Fault) -> Response:
        if fault.mode.startswith("rate_limit"):
            # Both codes are documented for rate limits; EXCEEDED_LIMIT unless the fault names the other.
            return error(429, fault.code or "EXCEEDED_LIMIT")
        return error(fault.status or 500, fault.code or "INTERNAL_ERROR")

    async def _token(self, request: Request) -> Response:
        reason = self._client_refusal(request.headers.get("authorization", ""))
        if reason is not None:
            refuse_auth(request, reason)
            return error(401, "InvalidClient")
        doc = await json_object(request) or {}
        grant = doc.get("grantType")
        refresh = str(doc.get("refreshToken")) if grant == "refresh_token" else None
        if grant is None:
            refuse_auth(request, "grantType is required")
            return error(400, "InvalidRequest")
        if refresh is not None:
            expires = self._refresh_tokens.get(refresh)
            if expires is None or expires <= self._clock.now():
                refuse_auth(request, "refreshToken is unknown or expired")
                return error(400, "InvalidGrant")
        elif grant != "client_credentials":
            refuse_auth(request, f"grantType {grant!r} is not supported")
            return error(400, "UnSupportedGrantType")
        return json_response(self._issue(refresh))

    def _client_refusal(self, header: str) -> str | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return "no Basic authorization"
        try:
            client, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            return "Basic credentials are not base64 of clientId:clientSecret"
        if not secrets.compare_digest(client.encode(), self._config.rm_client_id.encode()):
            return "unknown client id"
        if not secrets.compare_digest(secret.encode(), self._config.rm_client_secret.encode()):
            return "wrong client secret"
        return None

    def _issue(self, refresh_token: str | None) -> dict[str, Any]:
        now = self._clock.now()
        token = secrets.token_urlsafe(48)
        self._tokens[token] = now + self._config.rm_token_seconds
        if refresh_token is None:
            refresh_token = secrets.token_urlsafe(96)
            self._refresh_tokens[refresh_token] = now + self._config.rm_refresh_token_seconds
        # [inferred] A refresh keeps its refresh token (the docs show one in the answer, not whether it is new).
        return {
            "accessToken": token,
            "tokenType": "Bearer",
            # The docs type these as strings; their examples, like the stand-in, show numbers.
            "expiresIn": self._config.rm_token_seconds,
            "refreshToken": refresh_token,
            "refreshTokenExpiresIn": int(self._refresh_tokens[refresh_token] - now),
        }

    def _signed(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """The token, then the signature, as every Open API request needs."""

        async def run(request: Request) -> Response:
            token = bearer(request)
            expires = self._tokens.get(token or "")
            if expires is None or expires <= self._clock.now():
                code = "TOKEN_INVALID" if expires is None else "TOKEN_EXPIRED"
                refuse_auth(request, "no bearer token" if token is None else code.lower().replace("_", " "))
                return error(401, code)
            refusal = self._verifier.refusal(
                request.method, request_url(request.scope), await request.body(), request.headers
            )
            if refusal is not None:
                refuse_auth(request, refusal.reason)
                # [inferred] Signature errors answer 401, as a failed authentication ("Could not authenticate").
                return error(401, refusal.code, refusal.debug)
            return await handler(request)

        return endpoint(run)

    async def _by_id(self, request: Request) -> Response:
        found = self._transactions.get(request.path_params["transaction_id"])
        return _item(found.item() if found is not None and found.status is not None else None)

    async def _by_order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        found = [t for t in self._newest_first() if t.order_id == order_id and t.status is not None]
        return _item(found[0].item() if found else None)

    async def _checkout(self, request: Request) -> Response:
        checkout_id = request.query_params.get("checkoutId")
        if not checkout_id:
            return error(400, "INVALID_PARAMETER")
        found = [t for t in self._newest_first() if t.checkout_id == checkout_id]
        # [inferred] An unknown checkout answers like an unknown transaction.
        return _item(found[0].checkout() if found else None)

    async def _reconciliation(self, request: Request) -> Response:
        doc = await json_object(request) or {}
        kind = doc.get("transactionType")
        day = _date(doc.get("date"))
        if kind not in ("PAYMENT", "REFUND") or day is None:
            return error(400, "INVALID_PARAMETER")
        # The Go SDK sends "methods"/"regions" where the docs say "method"/"region": both are read.
        methods = _strings(doc.get("method", doc.get("methods")))
        regions = _strings(doc.get("region", doc.get("regions")))
        rows = rm_state.report_rows(self._transactions.values(), kind, day, methods, regions)
        try:
            items, following = rm_state.page(rows, str(doc.get("cursor") or ""), self._config.rm_page_size)
        except ValueError:
            return error(400, "INVALID_PARAMETER")
        return json_response({"items": items, "code": "SUCCESS", "meta": {"cursor": following}})

    def _newest_first(self) -> list[RmTransaction]:
        return sorted(self._transactions.values(), key=lambda t: -t.created)

    # The control API.

    def put(self, fields: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        existing = self._transactions.get(str(fields.get("transactionId", "")))
        transaction = rm_state.new_transaction(fields, self._clock.now(), existing)
        self._transactions[transaction.transaction_id] = transaction
        return self._view(transaction), existing is None

    def patch(self, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        transaction = self._find(key)
        if "transactionId" in fields or "orderId" in fields or "amount" in fields:
            raise ControlError(400, "transactionId, orderId and amount are fixed: PUT to replace the payment")
        rm_state.apply(transaction, fields, self._clock.now())
        return self._view(transaction)

    def _view(self, t: RmTransaction) -> dict[str, Any]:
        """The transaction as the API shows it, with the stand-in's own record of refunds and checkout."""
        view = t.item() if t.status is not None else {"transactionId": t.transaction_id, "status": None}
        refunds = [{"amount": r.amount, "at": iso(r.at)} for r in t.refunds]
        return {**view, "refunds": refunds, "checkout": t.checkout() if t.checkout_id else None}

    def show(self, key: str) -> dict[str, Any]:
        return self._view(self._find(key))

    def listing(self) -> list[dict[str, Any]]:
        return [self._view(t) for t in self._newest_first()]

    def delete(self, key: str) -> None:
        del self._transactions[self._find(key).transaction_id]

    def _find(self, key: str) -> RmTransaction:
        """A transaction by its id, else the newest with that order id or checkout id."""
        found = self._transactions.get(key) or next(
            (t for t in self._newest_first() if key in (t.order_id, t.checkout_id)), None
        )
        if found is None:
            raise ControlError(404, f"no Revenue Monster payment {key!r}")
        return found

    def notification(self, key: str, event: str | None, options: Mapping[str, Any]) -> Outgoing:
        t = self._find(key)
        if event not in (None, EVENT):
            raise ControlError(400, f"the stand-in sends Revenue Monster's {EVENT} only")
        if t.status != "SUCCESS":
            raise ControlError(409, f"Revenue Monster notifies successes only; this payment is {t.status}")
        body = orjson.dumps({"data": t.notify_data(), "eventType": EVENT})
        body, headers = self._config.rm_signer.sign(body)
        return Outgoing(NAME, EVENT, body, headers)

    def reset(self) -> None:
        self._tokens.clear()
        self._refresh_tokens.clear()
        self._transactions.clear()
        self._verifier.reset()


def _item(item: dict[str, Any] | None) -> Response:
    if item is None:
        # [inferred] HTTP 404: the docs give the code, not the status.
        raise ApiRefusal(error(404, "TRANSACTION_NOT_FOUND"))
    return json_response({"item": item, "code": "SUCCESS"})


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


async def _no_route(request: Request, exc: Exception) -> Response:
    return error(404, "API_ENDPOINT_NOT_FOUND")
