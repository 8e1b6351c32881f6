"""Pivot Payment's API as documented: a 15-minute token from ``/v1/access-token``, payment sessions, their
charges and their refunds, in Pivot's envelope ``{code, message, error?, data?, pagination?}``."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.providers._standin import pivot_state
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
    json_object,
    json_response,
    page_of,
    refuse_auth,
)
from shared.providers._standin.pivot_state import REFUND_STATUSES, Refund, Session

NAME = "pivot"
TOKEN_SECONDS = 900
EVENTS = (
    "PAYMENT.PROCESSING",
    "PAYMENT.PAID",
    "PAYMENT.CANCELLED",
    "CHARGE.SUCCESS",
    "PAYMENT.TEST",
    *(f"REFUND.{status}" for status in REFUND_STATUSES),
)
_EVENT_BY_STATUS = {
    "PROCESSING": "PAYMENT.PROCESSING",
    "PAID": "PAYMENT.PAID",
    "CANCELLED": "PAYMENT.CANCELLED",
    "EXPIRED": "PAYMENT.CANCELLED",  # Pivot has no expiry event: "system timeout" is a cancellation
    "ACTIVE": "CHARGE.SUCCESS",
}
# The charge a session's status implies: its status and failure code.
_SERVER_ERRORS = {
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Invalid response from downstream"),
    503: ("service_unavailable", "Downstream downtime"),
    504: ("gateway_timeout", "No response within SLA"),
}


def error(status: int, code: str, message: str, kind: str = "API_ERROR", details: Any = None) -> Response:
    # [inferred] The docs spell the trace key "traceId" and "trace_id": 4xx answers carry the first, 5xx the
    # second, so that a client meets both.
    trace = "traceId" if status < 500 else "trace_id"
    detail = details if details is not None else []
    body = {"code": code, "message": message, "error": {"type": kind, "details": detail, trace: uuid.uuid4().hex}}
    return json_response(body, status)


def _invalid(name: str, message: str) -> ApiRefusal:
    details = [{"field": name, "message": message}]
    return ApiRefusal(error(400, "api_validation_error", "The request was invalid", details=details))


def _missing(resource: str, key: str) -> ApiRefusal:
    return ApiRefusal(error(404, "resource_missing", f"The {resource} with ID {key} cannot be found", "GATEWAY_ERROR"))


def _ok(data: Any, pagination: dict[str, int] | None = None) -> Response:
    body: dict[str, Any] = {"code": "00", "message": "Success", "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return json_response(body)


class PivotStandIn:
    name = NAME

    @staticmethod
    def example(sample: Mapping[str, Any]) -> dict[str, Any]:
        """The control API's fields of the payment a Pivot callback tells of (the provider's example)."""
        data = sample["data"]
        amount = data["amount"]
        return {
            "id": data["id"], "clientReferenceId": data["clientReferenceId"], "amount": amount["value"],
            "currency": amount["currency"], "status": data["status"],
        }  # fmt: skip

    def __init__(self, config: StandInConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._sessions: dict[str, Session] = {}

    # The API.

    def surfaces(self) -> list[Surface]:
        routes = [
            Route("/v1/access-token", endpoint(self._token), methods=["POST"]),
            Route("/v2/payments/{id}", self._guarded(self._payment), methods=["GET"]),
            Route("/v2/payments", self._guarded(self._payments), methods=["GET"]),
            Route("/v2/charges", self._guarded(self._charges), methods=["GET"]),
            Route("/v1/refunds/{id}", self._guarded(self._refund), methods=["GET"]),
            Route("/v1/refunds", self._guarded(self._refunds), methods=["GET"]),
        ]
        handlers = {404: _no_route, 405: _no_route}
        app = Starlette(routes=routes, exception_handlers=handlers)
        return [Surface("/pivot", app, ("/v1/access-token",))]

    def fault_response(self, fault: Fault) -> Response:
        if fault.mode.startswith("rate_limit"):
            return error(429, "frequency_above_limit", "Too many requests")
        code, message = _SERVER_ERRORS.get(fault.status or 503, ("internal_error", "Internal server error"))
        return error(fault.status or 503, code, message, "GATEWAY_ERROR")

    async def _token(self, request: Request) -> Response:
        merchant = request.headers.get("x-merchant-id")
        secret = request.headers.get("x-merchant-secret")
        reason = None
        if not merchant or not secret:
            reason = "X-MERCHANT-ID and X-MERCHANT-SECRET are required"
        elif not secrets.compare_digest(merchant.encode(), self._config.pivot_merchant_id.encode()):
            reason = "unknown X-MERCHANT-ID"
        elif not secrets.compare_digest(secret.encode(), self._config.pivot_merchant_secret.encode()):
            reason = "wrong X-MERCHANT-SECRET"
        if reason is not None:
            refuse_auth(request, reason)
            return error(401, "credentials_invalid", "Merchant credentials are invalid")
        doc = await json_object(request)
        if doc is None or doc.get("grantType") != "client_credentials":
            refuse_auth(request, "grantType must be client_credentials")
            raise _invalid("grantType", "grantType must be client_credentials")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self._clock.now() + TOKEN_SECONDS
        # expiresIn is a string in Pivot's answer.
        return _ok({"accessToken": token, "expiresIn": str(TOKEN_SECONDS), "tokenType": "Bearer"})

    def _guarded(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            token = bearer(request)
            expires = self._tokens.get(token or "")
            reason = None
            if token is None:
                reason = "no bearer token"
            elif expires is None:
                reason = "unknown token"
            elif expires <= self._clock.now():
                reason = "token expired"
            if reason is not None:
                refuse_auth(request, reason)
                details = [{"field": "", "message": "Request new access token"}]
                message = "Access token is invalid, please verify that the authentication is provided and valid"
                return error(401, "credentials_invalid", message, details=details)
            response: Response = await handler(request)
            return response

        return endpoint(run)

    async def _payment(self, request: Request) -> Response:
        session = self._sessions.get(request.path_params["id"])
        if session is None:
            raise _missing("payment session", request.path_params["id"])
        return _ok(session.view())

    async def _payments(self, request: Request) -> Response:
        reference = request.query_params.get("clientReferenceId")
        # [inferred] An unmatched reference is an empty list, not a 404: the answer is list-shaped.
        found = [s for s in self._newest_first() if reference is None or s.reference == reference]
        return self._paged(request, [s.view() for s in found])

    async def _charges(self, request: Request) -> Response:
        reference = request.query_params.get("clientReferenceId")
        found = [s for s in self._newest_first() if reference is None or s.reference == reference]
        return self._paged(request, [charge for s in found for charge in s.charge_views()])

    async def _refund(self, request: Request) -> Response:
        for session in self._sessions.values():
            for refund in session.refunds:
                if refund.id == request.path_params["id"]:
                    return _ok(session.refund_view(refund))
        raise _missing("refund", request.path_params["id"])

    async def _refunds(self, request: Request) -> Response:
        # [inferred] The docs list no filters for GET /v1/refunds; paymentSessionId narrows it to one session.
        session_id = request.query_params.get("paymentSessionId")
        found = [
            s.refund_view(r)
            for s in self._newest_first()
            if session_id is None or s.id == session_id
            for r in sorted(s.refunds, key=lambda r: -r.created)
        ]
        return self._paged(request, found)

    def _paged(self, request: Request, items: list[Any]) -> Response:
        page = _query_int(request, "page", 1, 1_000_000)
        per_page = _query_int(request, "perPage", 20, 100)
        total_pages = max(1, -(-len(items) // per_page))
        pagination = {"page": page, "perPage": per_page, "totalItems": len(items), "totalPages": total_pages}
        return _ok(page_of(items, page, per_page), pagination)

    def _newest_first(self) -> list[Session]:
        return sorted(self._sessions.values(), key=lambda s: -s.created)

    # The control API.

    def put(self, fields: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        existing = self._sessions.get(str(fields.get("id", "")))
        session = pivot_state.new_session(fields, self._clock.now(), existing)
        self._sessions[session.id] = session
        return self.show(session.id), existing is None

    def patch(self, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        session = self._find(key)
        pivot_state.apply(session, fields, self._clock.now())
        return self.show(session.id)

    def show(self, key: str) -> dict[str, Any]:
        s = self._find(key)
        return {**s.view(), "refunds": [s.refund_view(r) for r in s.refunds]}

    def listing(self) -> list[dict[str, Any]]:
        return [self.show(s.id) for s in self._newest_first()]

    def delete(self, key: str) -> None:
        del self._sessions[self._find(key).id]

    def _find(self, key: str) -> Session:
        """A session by its id, else the newest with that client reference."""
        found = self._sessions.get(key) or next((s for s in self._newest_first() if s.reference == key), None)
        if found is None:
            raise ControlError(404, f"no Pivot payment session {key!r}")
        return found

    def notification(self, key: str, event: str | None, options: Mapping[str, Any]) -> Outgoing:
        s = self._find(key)
        event = event or _EVENT_BY_STATUS.get(s.status)
        if event is None:
            raise ControlError(409, f"Pivot sends no callback for a {s.status} session; name an event")
        if event not in EVENTS:
            raise ControlError(400, f"event must be one of {', '.join(EVENTS)}")
        data: dict[str, Any] = s.view()
        if event == "PAYMENT.TEST":
            data = {}
        elif event.startswith("REFUND."):
            data = s.refund_view(self._chosen_refund(s, options.get("refund_id")))
        body, headers = self._config.pivot_signer.sign(orjson.dumps({"event": event, "data": data}))
        return Outgoing(NAME, event, body, headers)

    def _chosen_refund(self, s: Session, refund_id: Any) -> Refund:
        chosen = [r for r in s.refunds if refund_id is None or r.id == refund_id]
        if not chosen:
            raise ControlError(409, "a refund event needs a refund: add one, or name it with refund_id")
        return chosen[-1]

    def reset(self) -> None:
        self._tokens.clear()
        self._sessions.clear()


def _query_int(request: Request, name: str, default: int, limit: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        # [inferred] Pivot documents a maximum of 100 per page, not what it answers beyond it.
        raise _invalid(name, f"{name} must be a whole number from 1 to {limit}")
    return int(raw)


async def _no_route(request: Request, exc: Exception) -> Response:
    return error(404, "not_found", "The requested URL does not exist", "GATEWAY_ERROR")
