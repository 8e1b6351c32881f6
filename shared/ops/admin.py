"""The admin API (``/admin/*``): payments and the dead-letter queue, behind a bearer token.

Served by the web process, off the callback path: its connections are made on first use, and its blocking
calls run in the thread pool. Unset ``PAYHOOK_ADMIN_TOKEN`` and every admin path answers 404; set it, and a
missing token and a wrong one get the very same 401.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from shared.db import dead_letters as dlq
from shared.errors import ascii_digits, error
from shared.ops.service import Operations
from shared.settings import Settings

Handler = Callable[[Request], Awaitable[Response]]
MAX_PAGE = 1000


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document, default=str), status_code=status, media_type="application/json")


class BadQuery(ValueError):
    pass


def _text(value: str | None, name: str) -> str | None:
    """A query or path value as the database may take it (PostgreSQL text holds no NUL)."""
    if value and "\x00" in value:
        raise BadQuery(f"{name} holds a NUL character")
    return value or None


def _time(request: Request, name: str) -> datetime | None:
    raw = _text(request.query_params.get(name), name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise BadQuery(f"{name} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not ascii_digits(raw) or not low <= int(raw) <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _filters(request: Request) -> dlq.Filters:
    return dlq.Filters(
        provider=_text(request.query_params.get("provider"), "provider"),
        reason=_text(request.query_params.get("reason"), "reason"),
        since=_time(request, "since"),
        until=_time(request, "until"),
    )


class Admin:
    def __init__(self, settings: Settings) -> None:
        self.ops = Operations(settings)
        token = settings.admin_token
        self._digest = hashlib.sha256(f"Bearer {token}".encode()).digest() if token else None

    async def gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Token first, before any routing: without it nothing about the admin API shows, not even which
        paths or methods exist."""
        if self._digest is None:
            await error(404, "not_found", "not found")(scope, receive, send)
            return
        given = hashlib.sha256(Headers(scope=scope).get("authorization", "").encode("latin-1")).digest()
        # Digests of equal length: the comparison's time says nothing about the token, not even its length.
        if not hmac.compare_digest(given, self._digest):
            denied = error(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
            await denied(scope, receive, send)
            return
        await self._router(scope, receive, send)

    @cached_property
    def _router(self) -> Router:
        def handled(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    return await handler(request)
                except BadQuery as exc:
                    return error(400, "bad_request", str(exc))

            return endpoint

        return Router(
            [
                Route("/payments/{provider}/{order_ref}", handled(self.payment), methods=["GET"]),
                Route("/dead-letters", handled(self.letters), methods=["GET"]),
                Route("/dead-letters/replay", handled(self.replay_matching), methods=["POST"]),
                Route("/dead-letters/{letter_id}", handled(self.letter_or_delete), methods=["GET", "DELETE"]),
                Route("/dead-letters/{letter_id}/replay", handled(self.replay_one), methods=["POST"]),
            ]
        )

    def mount(self) -> Mount:
        return Mount("/admin", app=self.gate)

    async def letter_or_delete(self, request: Request) -> Response:
        return await (self.delete(request) if request.method == "DELETE" else self.letter(request))

    async def payment(self, request: Request) -> Response:
        provider = _text(request.path_params["provider"], "provider") or ""
        order_ref = _text(request.path_params["order_ref"], "order_ref") or ""

        document = await run_in_threadpool(self.ops.payment, provider, order_ref)
        return _json(document) if document else error(404, "not_found", "no such payment")

    async def letters(self, request: Request) -> Response:
        filters = _filters(request)
        limit = _int(request, "limit", 50, 1, MAX_PAGE)
        offset = _int(request, "offset", 0, 0, 10**12)

        items = await run_in_threadpool(lambda: self.ops.letters(filters, limit=limit + 1, offset=offset))
        more = len(items) > limit
        return _json({"items": items[:limit], "next_offset": offset + limit if more else None})

    async def letter(self, request: Request) -> Response:
        document = await run_in_threadpool(self.ops.letter, _path_id(request))
        return _json(document) if document else error(404, "not_found", "no such dead letter")

    async def replay_one(self, request: Request) -> Response:
        done = await run_in_threadpool(self.ops.replay, [_path_id(request)])
        return _json({"replayed": done}) if done else error(404, "not_found", "no such dead letter waiting")

    async def replay_matching(self, request: Request) -> Response:
        filters = _filters(request)
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes"}

        ids = await run_in_threadpool(self.ops.matching, filters)
        if dry_run:
            return _json({"dry_run": True, "would_replay": ids})
        return _json({"dry_run": False, "replayed": await run_in_threadpool(self.ops.replay, ids)})

    async def delete(self, request: Request) -> Response:
        removed = await run_in_threadpool(self.ops.purge, [_path_id(request)])
        return Response(status_code=204) if removed else error(404, "not_found", "no such dead letter")


def _path_id(request: Request) -> int:
    raw = request.path_params["letter_id"]
    if not ascii_digits(raw) or len(raw) > 18:
        raise BadQuery("a dead-letter id is a whole number")
    return int(raw)
