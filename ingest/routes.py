"""The receiver's endpoints. No database on this path: authenticate, append to the stream, answer.

The callback endpoint is a plain ASGI app: at tens of thousands of requests a second, Request and Response
objects per call are a cost worth not paying.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.exceptions
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.appender import Appender
from ingest.body import BodyTooLarge, ClientGone, read_limited
from ingest.metrics import ReceiverMetrics, ScrapeFigures
from ingest.shutdown import GracefulShutdown
from ingest.sources import source_allowed
from ingest.spool import Spool
from shared.errors import ascii_digits, error
from shared.providers import Configured
from shared.queue import QueuedCallback, received_now
from shared.settings import Settings

log = logging.getLogger(__name__)
_OK = b'{"status":"ok"}'
_JSON_HEADERS = [(b"content-type", b"application/json")]


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _queued(entry_id: bytes) -> tuple[Message, Message]:
    """The 200 of a queued callback, as its two messages."""
    body = b'{"status":"queued","id":"' + entry_id + b'"}'
    head = [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))]
    return {"type": "http.response.start", "status": 200, "headers": head}, {"type": "http.response.body", "body": body}


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name; the first of repeated headers wins, as in Starlette (read in
    reverse, the first is written last)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])}


class QueueUnavailable(Exception):
    """Redis is above its high-water mark of memory, or has just failed an append."""


@dataclass
class CallbackEndpoint:
    """``/callbacks/{provider}[/{account}]``: 200 only after Redis confirmed the append of this very callback,
    or, while Redis cannot take it, PostgreSQL's spool committed it."""

    # By route (``<provider>``, ``<provider>/acme``: ``ingest.accounts``); replaced whole when accounts change.
    routes: dict[str, Configured]
    appender: Appender
    settings: Settings
    metrics: ReceiverMetrics
    spool: Spool | None = None
    # False until the stored accounts have been loaded once: till then (PostgreSQL unreachable when the process
    # started) an account's route is not known to be unknown, and a 404 would tell the provider to give up.
    accounts_loaded: bool = False

    def install(self, routes: dict[str, Configured]) -> None:
        """A new routing table (accounts changed): requests from now on use it."""
        self.routes = routes
        self.accounts_loaded = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: str = scope["path_params"]["route"]
        found = self.routes.get(route)
        if found is None:
            await self._not_found(route)(scope, receive, send)
            return
        if scope["method"] != "POST":
            # Some providers check that a callback URL answers 200 when it is registered.
            await _answer(send, 200, _OK)
            return
        refusal = await self._handle(scope, receive, send, found)
        if refusal is not None:
            self.metrics.counts[(found.provider.name, refusal[0])] += 1
            await refusal[1](scope, receive, send)

    def _not_found(self, route: str) -> Response:
        provider, slash, _ = route.partition("/")
        if slash and not self.accounts_loaded and provider in self.routes:
            retry = {"Retry-After": "5"}
            return error(503, "unavailable", "this process has not loaded its accounts yet; retry later", retry)
        return error(404, "not_found", f"no provider account at /callbacks/{route}")

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, configured: Configured
    ) -> tuple[str, Callable[[Scope, Receive, Send], Awaitable[None]]] | None:
        """Answer 200 and return None, or return the refusal to send, named for the metrics."""
        name, auth = configured.provider.name, configured.authenticator
        if auth is None:
            return "not_configured", error(503, "not_configured", f"provider {name!r} is not configured")
        headers = _headers(scope)
        settings = self.settings
        allowed = configured.allowed_sources
        if allowed and not source_allowed(scope, headers, settings.trusted_proxies, allowed):
            return "forbidden", error(403, "forbidden", "this source may not send callbacks here")
        limit = settings.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and (not ascii_digits(declared) or int(declared) > limit):
            if not ascii_digits(declared):
                return "bad_request", error(400, "bad_request", "Content-Length is not a number")
            return "too_large", error(413, "too_large", f"body exceeds {limit} bytes")
        try:
            body = await read_limited(receive, limit)
        except BodyTooLarge:
            return "too_large", error(413, "too_large", f"body exceeds {limit} bytes")
        except ClientGone:
            return "bad_request", error(400, "bad_request", "the client went away")
        refused = auth.refusal(headers, body)
        if refused is not None:
            return "unauthorized", error(401, "unauthorized", f"callback authentication failed: {refused}")
        kept = {h: headers[h] for h in configured.provider.kept_headers if h in headers}
        callback = QueuedCallback(name, body, kept, received_now(), configured.account)
        if self.spool is not None and not self.appender.available:
            return await self._spooled(send, callback, QueueUnavailable())
        try:
            entry_id = await self.appender.append(callback)
        except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
            return await self._spooled(send, callback, exc)
        self.metrics.counts[(name, "queued")] += 1
        if log.isEnabledFor(logging.DEBUG):  # the hot path pays one check, not a record
            log.debug("queued", extra={"entry_id": entry_id.decode(), "provider": name})
        # _answer's two sends written out: one coroutine less per callback.
        start, answer = _queued(entry_id)
        await send(start)
        await send(answer)
        return None

    async def _spooled(
        self, send: Send, callback: QueuedCallback, cause: BaseException
    ) -> tuple[str, Callable[[Scope, Receive, Send], Awaitable[None]]] | None:
        """Redis could not take the callback: PostgreSQL's spool, or a 503 when it cannot either."""
        log.warning("queue unavailable (%s)", type(cause).__name__, extra={"provider": callback.provider})
        if self.spool is not None:
            try:
                spool_id = await self.spool.store(callback)
            except Exception as exc:  # any failure of the second store is a 503, never a 500
                log.error("spool unavailable: %s", type(exc).__name__, extra={"provider": callback.provider})
            else:
                log.info("spooled", extra={"entry_id": f"spool-{spool_id}", "provider": callback.provider})
                self.metrics.counts[(callback.provider, "spooled")] += 1
                await _answer(send, 200, b'{"status":"spooled","id":"spool-%d"}' % spool_id)
                return None
        return "unavailable", error(503, "unavailable", "the callback could not be queued; retry later")


class FastPath:
    """``POST /callbacks/{provider}`` goes straight to the callback endpoint; everything else (health,
    metrics, errors, other methods) to the Starlette app. Starlette's middleware stack costs more per call
    than the whole endpoint does."""

    PREFIX = "/callbacks/"
    _BUSY = b'{"error":"busy","message":"too many callbacks in flight; retry later"}'
    _FAILED = b'{"error":"internal_error","message":"the request could not be handled"}'

    def __init__(
        self, app: ASGIApp, callbacks: CallbackEndpoint, max_in_flight: int, shutdown: GracefulShutdown
    ) -> None:
        self.app = app
        self.callbacks = callbacks
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.shutdown.draining:
            send = self.shutdown.closing(send)
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(self.PREFIX):
            await self.app(scope, receive, send)
            return
        route = scope["path"][len(self.PREFIX) :]
        if not route or route.count("/") > 1:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"route": route}
        # The callback, in this coroutine rather than one more: at this rate each coroutine is worth saving.
        if self.in_flight >= self.max_in_flight:
            # A fast, cheap 503 beyond the bound: the provider retries, this process keeps its memory.
            await _answer(send, 503, self._BUSY)
            return
        self.in_flight += 1
        try:
            await self.callbacks(scope, receive, send)
        except Exception as exc:
            # Nothing has been sent yet: the endpoint answers in one go, at its very end. The log names the
            # failure's type only: messages may quote the body, and bodies stay out of logs.
            log.error("callback endpoint failed: %s", type(exc).__name__)
            log.debug("callback endpoint failure", exc_info=True)
            await _answer(send, 500, self._FAILED)
        finally:
            self.in_flight -= 1


@dataclass
class Probes:
    """The receiver's probes: health, readiness, metrics and the OpenAPI document."""

    redis: Redis
    metrics: ReceiverMetrics
    openapi_document: bytes
    shutdown: GracefulShutdown
    spool: Spool | None
    # Reads the queue's numbers for the gauges (blocking: run in the thread pool at scrape time).
    queue_reader: Callable[[], ScrapeFigures] | None = None

    async def healthz(self, request: Request) -> Response:
        return Response(_OK, media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        """200 while a callback can be made durable: in Redis, or, while Redis is away, in the spool."""
        if self.shutdown.draining:
            return error(503, "shutting_down", "this process is shutting down")
        try:
            await self.redis.ping()
        except (redis.exceptions.RedisError, OSError):
            if self.spool is None or not await self.spool.reachable():
                return error(503, "unavailable", "the queue is unreachable")
        return Response(_OK, media_type="application/json")

    async def openapi(self, request: Request) -> Response:
        return Response(self.openapi_document, media_type="application/json")

    async def metrics_text(self, request: Request) -> Response:
        if self.queue_reader is not None:
            self.metrics.observe_queue(await run_in_threadpool(self.queue_reader))
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)
