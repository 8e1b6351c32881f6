"""The admin API (``/admin/*``): payments and the dead-letter queue, behind a bearer token.

Off the callback path: its database engine and Redis client are made on first use, and its blocking
calls run in the thread pool. Unset ``PAYHOOK_ADMIN_TOKEN`` and every admin path answers 404; set it, and a
missing token and a wrong one get the very same 401.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson
from celery import Celery
from redis import Redis
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from ingest.errors import error
from shared.celery_app import make_celery
from shared.db import dead_letters as dlq
from shared.db.engine import make_engine, make_sessionmaker
from shared.db.payments import find_payment, payment_document
from shared.queue import DRAIN_TASK, QueueKeys
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
    if not raw.isdigit() or not low <= int(raw) <= high:
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
        self.settings = settings
        self._sealer = settings.sealer
        token = settings.admin_token
        self._digest = hashlib.sha256(f"Bearer {token}".encode()).digest() if token else None

    @cached_property
    def _sessions(self) -> Any:
        return make_sessionmaker(make_engine(self.settings, pool_size=2))

    @cached_property
    def _celery(self) -> Celery:
        return make_celery(self.settings)

    @cached_property
    def _redis(self) -> Redis:
        return Redis.from_url(self.settings.redis_url, socket_connect_timeout=1.0, socket_timeout=5.0)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

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

        def read() -> dict[str, Any] | None:
            with self._session() as session:
                found = find_payment(session, provider, order_ref)
                return None if found is None else payment_document(session, found)

        document = await run_in_threadpool(read)
        return _json(document) if document else error(404, "not_found", "no such payment")

    async def letters(self, request: Request) -> Response:
        filters = _filters(request)
        limit = _int(request, "limit", 50, 1, MAX_PAGE)
        offset = _int(request, "offset", 0, 0, 10**12)

        def read() -> list[dict[str, Any]]:
            with self._session() as session:
                return [
                    dlq.summary(x, self._sealer)
                    for x in dlq.list_letters(session, filters, limit=limit + 1, offset=offset)
                ]

        items = await run_in_threadpool(read)
        more = len(items) > limit
        return _json({"items": items[:limit], "next_offset": offset + limit if more else None})

    async def letter(self, request: Request) -> Response:
        letter_id = _path_id(request)

        def read() -> dict[str, Any] | None:
            with self._session() as session:
                found = dlq.get(session, letter_id)
                return None if found is None else dlq.document(found, self._sealer)

        document = await run_in_threadpool(read)
        return _json(document) if document else error(404, "not_found", "no such dead letter")

    async def replay_one(self, request: Request) -> Response:
        done = await run_in_threadpool(self._replay, [_path_id(request)])
        return _json({"replayed": done}) if done else error(404, "not_found", "no such dead letter")

    async def replay_matching(self, request: Request) -> Response:
        filters = _filters(request)
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes"}

        def matching() -> list[int]:
            with self._session() as session:
                return dlq.matching_ids(session, filters)

        ids = await run_in_threadpool(matching)
        if dry_run:
            return _json({"dry_run": True, "would_replay": ids})
        return _json({"dry_run": False, "replayed": await run_in_threadpool(self._replay, ids)})

    async def delete(self, request: Request) -> Response:
        letter_id = _path_id(request)

        def purge() -> int:
            with self._session() as session:
                return dlq.purge(session, [letter_id])

        removed = await run_in_threadpool(purge)
        return Response(status_code=204) if removed else error(404, "not_found", "no such dead letter")

    def _replay(self, ids: list[int]) -> list[int]:
        if not ids:
            return []
        with self._session() as session:
            done = dlq.replay(session, self._redis, QueueKeys(self.settings.queue_prefix), ids, self._sealer)
        if done:
            self._celery.send_task(DRAIN_TASK, kwargs={"slot": 0}, retry=False)
        return done


def _path_id(request: Request) -> int:
    raw = request.path_params["letter_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise BadQuery("a dead-letter id is a whole number")
    return int(raw)
