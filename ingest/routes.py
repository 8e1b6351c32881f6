"""The receiver's endpoints. No database on this path: authenticate, append to the stream, answer.

The callback endpoint is a plain ASGI app: at tens of thousands of requests a second, Request and Response
objects per call are a cost worth not paying.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.exceptions
from celery import Celery
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest.appender import Appender
from ingest.body import BodyTooLarge, ClientGone, read_limited
from ingest.errors import error
from ingest.metrics import ReceiverMetrics
from shared.providers import Authenticator, Provider
from shared.queue import DRAIN_TASK, QueuedCallback

log = logging.getLogger(__name__)
_OK = b'{"status":"ok"}'
_JSON_HEADERS = [(b"content-type", b"application/json")]


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name; the first of repeated headers wins, as in Starlette."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


@dataclass
class CallbackEndpoint:
    """``/callbacks/{provider}``: 200 only after Redis confirmed the append of this very callback."""

    providers: dict[str, tuple[Provider, Authenticator | None]]
    appender: Appender
    max_body_bytes: int
    metrics: ReceiverMetrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name: str = scope["path_params"]["provider"]
        found = self.providers.get(name)
        if found is None:
            await error(404, "not_found", f"no provider named {name!r}")(scope, receive, send)
            return
        if scope["method"] != "POST":
            # Pivot checks that a callback URL answers 200 when the merchant registers it.
            await _answer(send, 200, _OK)
            return
        provider, authenticator = found
        refusal = await self._handle(scope, receive, send, name, provider, authenticator)
        if refusal is not None:
            self.metrics.by_result[(name, refusal[0])].inc()
            await refusal[1](scope, receive, send)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, name: str, provider: Provider, auth: Authenticator | None
    ) -> tuple[str, Callable[[Scope, Receive, Send], Awaitable[None]]] | None:
        """Answer 200 and return None, or return the refusal to send, named for the metrics."""
        if auth is None:
            return "not_configured", error(503, "not_configured", f"provider {name!r} is not configured")
        headers = _headers(scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            if not declared.isdigit():
                return "bad_request", error(400, "bad_request", "Content-Length is not a number")
            return "too_large", error(413, "too_large", f"body exceeds {self.max_body_bytes} bytes")
        try:
            body = await read_limited(receive, self.max_body_bytes)
        except BodyTooLarge:
            return "too_large", error(413, "too_large", f"body exceeds {self.max_body_bytes} bytes")
        except ClientGone:
            return "bad_request", error(400, "bad_request", "the client went away")
        if not auth.verify(headers, body):
            return "unauthorized", error(401, "unauthorized", "callback authentication failed")
        kept = {h: headers[h] for h in provider.kept_headers if h in headers}
        try:
            entry_id = await self.appender.append(QueuedCallback(name, body, kept, time.time()))
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("queue unavailable: %s", type(exc).__name__)
            return "unavailable", error(503, "unavailable", "the callback could not be queued; retry later")
        self.metrics.by_result[(name, "queued")].inc()
        await _answer(send, 200, b'{"status":"queued","id":"' + entry_id + b'"}')
        return None


class FastPath:
    """``POST /callbacks/{provider}`` goes straight to the callback endpoint; everything else (health,
    metrics, errors, other methods) to the Starlette app. Starlette's middleware stack costs more per call
    than the whole endpoint does."""

    PREFIX = "/callbacks/"

    def __init__(self, app: ASGIApp, callbacks: CallbackEndpoint) -> None:
        self.app = app
        self.callbacks = callbacks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(self.PREFIX):
            name = scope["path"][len(self.PREFIX) :]
            if name and "/" not in name:
                scope["path_params"] = {"provider": name}
                try:
                    await self.callbacks(scope, receive, send)
                except Exception:
                    # Nothing has been sent yet: the endpoint answers in one go, at its very end.
                    log.exception("callback endpoint failed")
                    await _answer(send, 500, b'{"error":"internal_error","message":"the request could not be handled"}')
                return
        await self.app(scope, receive, send)


@dataclass
class Operations:
    """Health, readiness and metrics."""

    redis: Redis
    metrics: ReceiverMetrics

    async def healthz(self, request: Request) -> Response:
        return Response(_OK, media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        try:
            await self.redis.ping()
        except (redis.exceptions.RedisError, OSError):
            return error(503, "unavailable", "the queue is unreachable")
        return Response(_OK, media_type="application/json")

    async def metrics_text(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def doorbell(celery: Celery | None) -> Callable[[], None]:
    """Publishes a drain message off the event loop; only a flush that found the doorbell free calls it."""

    def publish() -> None:
        try:
            celery.send_task(DRAIN_TASK, kwargs={"slot": 0}, retry=False)  # type: ignore[union-attr]
        except Exception:  # the beat tick rings within a second or so
            log.warning("could not publish a drain message", exc_info=True)

    def ring() -> None:
        if celery is not None:
            asyncio.get_running_loop().run_in_executor(None, publish)

    return ring
