"""What the three stand-ins share: the controllable clock, the log of API requests, the faults, control
errors, field readers for the control API, and the provider protocol the app and the control API drive."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

PROVIDERS = ("pivot", "revenue-monster", "midtrans")
FAULT_MODES = (
    "rate_limit",
    "rate_limit_retry_after",
    "server_error",
    "slow",
    "drop_connection",
    "malformed",
    "truncated",
    "html",
    "not_found_as_200",
)
# Requests kept for GET /_sim/requests: enough for any test, bounded for a long development session.
MAX_LOGGED = 10_000
# Where a handler notes why it refused a request's credentials (read into the request log).
AUTH_FAILURE = "standin_auth_failure"


class ControlError(Exception):
    """A control request the stand-in refuses: the HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=dict(headers or {}), media_type="application/json")


def refuse_auth(request: Request, reason: str) -> None:
    """Note why the request's credentials were refused, for the request log (never the secret itself)."""
    setattr(request.state, AUTH_FAILURE, reason)


class Clock:
    """Wall time plus an offset that the control API moves: tokens, nonces and timestamps all read it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def set(self, unix: float) -> None:
        self.offset = unix - time.time()

    def reset(self) -> None:
        self.offset = 0.0


def iso(unix: float) -> str:
    """RFC 3339 in UTC with a ``Z``, whole seconds (as Pivot and Revenue Monster print times)."""
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any, name: str) -> float:
    if not isinstance(value, str):
        raise ControlError(400, f"{name} must be an ISO 8601 time such as 2025-01-01T03:04:10Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ControlError(400, f"{name} must be an ISO 8601 time, got {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def local_time(unix: float, hours: int, fmt: str) -> str:
    return datetime.fromtimestamp(unix, timezone(timedelta(hours=hours))).strftime(fmt)


def new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass
class Fault:
    """One provider's fault: applies to its next ``remaining`` API requests (None: until cleared)."""

    provider: str
    mode: str
    remaining: int | None = None
    seconds: float = 3.0
    retry_after: int = 1
    status: int | None = None
    code: str | None = None
    scope: str = "all"

    def view(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    def __init__(self) -> None:
        self._active: dict[str, Fault] = {}

    def put(self, fault: Fault) -> None:
        self._active[fault.provider] = fault

    def clear(self, provider: str | None = None) -> None:
        if provider is None:
            self._active.clear()
        else:
            self._active.pop(provider, None)

    def views(self) -> list[dict[str, Any]]:
        return [fault.view() for fault in self._active.values()]

    def applying(self, provider: str, token_endpoint: bool) -> Fault | None:
        fault = self._active.get(provider)
        if fault is None or (token_endpoint and fault.scope == "api"):
            return None
        return fault

    def spend(self, fault: Fault) -> None:
        """One request took the fault: count it down, and clear it when the count is spent."""
        if fault.remaining is None:
            return
        fault.remaining -= 1
        if fault.remaining <= 0 and self._active.get(fault.provider) is fault:
            del self._active[fault.provider]


@dataclass
class Seen:
    """One API request as the stand-in saw and answered it."""

    provider: str
    method: str
    path: str
    query: str
    time: float
    status: int | None = None
    auth_failure: str | None = None
    fault: str | None = None


class RequestLog:
    def __init__(self) -> None:
        self._seen: deque[Seen] = deque(maxlen=MAX_LOGGED)

    def add(self, seen: Seen) -> None:
        self._seen.append(seen)

    def views(self, provider: str | None = None) -> list[dict[str, Any]]:
        return [asdict(s) for s in self._seen if provider is None or s.provider == provider]

    def clear(self) -> None:
        self._seen.clear()


@dataclass(frozen=True)
class Surface:
    """A prefix the stand-in serves one provider's API under; ``token_paths`` are its token endpoints
    (paths below the prefix; ``("*",)`` when the whole surface is the token server)."""

    prefix: str
    app: ASGIApp
    token_paths: tuple[str, ...] = ()

    def is_token(self, path: str) -> bool:
        return "*" in self.token_paths or path in self.token_paths


@dataclass
class Outgoing:
    """A callback as the provider would send it."""

    provider: str
    event: str
    body: bytes
    headers: dict[str, str]
    url: str = ""


class StandIn(Protocol):
    """One provider's stand-in, as the app and the control API drive it."""

    name: str

    def surfaces(self) -> list[Surface]: ...

    def fault_response(self, fault: Fault) -> Response:
        """The provider's own answer for a rate limit or a server error."""
        ...

    def put(self, fields: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or replace a payment; its API view and whether it was created."""
        ...

    def patch(self, key: str, fields: Mapping[str, Any]) -> dict[str, Any]: ...

    def show(self, key: str) -> dict[str, Any]: ...

    def listing(self) -> list[dict[str, Any]]: ...

    def delete(self, key: str) -> None: ...

    def notification(self, key: str, event: str | None, options: Mapping[str, Any]) -> Outgoing: ...

    def reset(self) -> None: ...


# Readers for the control API's JSON: each raises ControlError(400) naming the field.


def check_fields(fields: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ControlError(400, f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(allowed)}")


def text_field(fields: Mapping[str, Any], name: str, default: str | None = None, *, limit: int = 255) -> str:
    value = fields.get(name, default)
    if not isinstance(value, str) or not value:
        raise ControlError(400, f"{name} must be a non-empty string")
    if len(value) > limit:
        raise ControlError(400, f"{name} is longer than {limit} characters")
    return value


def optional_text(fields: Mapping[str, Any], name: str) -> str | None:
    return None if fields.get(name) is None else text_field(fields, name)


def choice(fields: Mapping[str, Any], name: str, options: Sequence[str], default: str | None = None) -> str:
    value = fields.get(name, default)
    if value not in options:
        raise ControlError(400, f"{name} must be one of {', '.join(options)}; got {value!r}")
    assert isinstance(value, str)
    return value


def whole(fields: Mapping[str, Any], name: str, default: int | None = None, *, low: int = 0) -> int:
    value = fields.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ControlError(400, f"{name} must be a whole number of at least {low}; got {value!r}")
    return value


def money(value: Any, name: str) -> Decimal:
    """A non-negative decimal amount, from a JSON string or number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ControlError(400, f'{name} must be a decimal amount such as "500.00"; got {value!r}')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ControlError(400, f"{name} must be a decimal amount; got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ControlError(400, f"{name} must be a non-negative amount; got {value!r}")
    return amount


def object_list(fields: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = fields.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ControlError(400, f"{name} must be a list of objects")
    return value


def page_of(items: list[Any], page: int, per_page: int) -> list[Any]:
    start = (page - 1) * per_page
    return items[start : start + per_page]


def merge_by_key(
    current: list[Any],
    given: list[dict[str, Any]],
    id_field: str,
    key: Callable[[Any], str],
    build: Callable[[Any, dict[str, Any]], Any],
) -> list[Any]:
    """PATCH semantics for a payment's refunds: a given entry whose id matches updates that refund
    (``build(existing, fields)``), any other is added (``build(None, fields)``); the rest are kept."""
    merged = list(current)
    by_id = {key(item): index for index, item in enumerate(merged)}
    for fields in given:
        given_id = fields.get(id_field)
        index = None if given_id is None else by_id.get(str(given_id))
        if index is None:
            merged.append(build(None, fields))
        else:
            merged[index] = build(merged[index], fields)
    return merged


class ApiRefusal(Exception):
    """An API request the provider refuses: raised deep in a handler, answered by ``endpoint``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that answers a ``ApiRefusal`` with its response."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiRefusal as refused:
            return refused.response

    return run


async def json_object(request: Request) -> dict[str, Any] | None:
    """The request's body as a JSON object, or None when it is not one."""
    try:
        doc = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
