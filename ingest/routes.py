"""The receiver's endpoints. No database on this path: authenticate, append to the stream, answer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis.exceptions
from celery import Celery
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ingest.body import BadContentLength, BodyTooLarge, read_limited
from ingest.errors import error
from ingest.metrics import ReceiverMetrics
from shared.providers import Authenticator, Provider
from shared.queue import DRAIN_TASK, QueuedCallback, QueueKeys, enqueue

log = logging.getLogger(__name__)
_OK = b'{"status":"ok"}'


@dataclass
class Receiver:
    providers: dict[str, tuple[Provider, Authenticator | None]]
    redis: Redis
    keys: QueueKeys
    celery: Celery | None
    max_body_bytes: int
    metrics: ReceiverMetrics

    async def callback(self, request: Request) -> Response:
        name = request.path_params["provider"]
        found = self.providers.get(name)
        if found is None:
            return error(404, "not_found", f"no provider named {name!r}")
        provider, authenticator = found
        count = self.metrics.by_result
        if request.method != "POST":
            # Pivot checks that a callback URL answers 200 when the merchant registers it.
            return Response(_OK, media_type="application/json")
        if authenticator is None:
            count[(name, "not_configured")].inc()
            return error(503, "not_configured", f"provider {name!r} is not configured on this receiver")
        try:
            body = await read_limited(request, self.max_body_bytes)
        except BodyTooLarge:
            count[(name, "too_large")].inc()
            return error(413, "too_large", f"body exceeds {self.max_body_bytes} bytes")
        except BadContentLength:
            count[(name, "bad_request")].inc()
            return error(400, "bad_request", "Content-Length is not a number")
        headers = request.headers
        if not authenticator.verify(headers, body):
            count[(name, "unauthorized")].inc()
            return error(401, "unauthorized", "callback authentication failed")
        kept = {h: headers[h] for h in provider.kept_headers if h in headers}
        callback = QueuedCallback(name, body, kept, time.time())
        started = time.perf_counter()
        try:
            entry_id, rang = await enqueue(self.redis, self.keys, callback)
        except redis.exceptions.RedisError as exc:
            count[(name, "unavailable")].inc()
            log.warning("queue unavailable: %s", type(exc).__name__)
            return error(503, "unavailable", "the callback could not be queued; retry later")
        self.metrics.enqueue_seconds.observe(time.perf_counter() - started)
        count[(name, "queued")].inc()
        content = b'{"status":"queued","id":"' + entry_id + b'"}'
        task = BackgroundTask(self._ring) if rang else None
        return Response(content, media_type="application/json", background=task)

    async def _ring(self) -> None:
        """Publish a drain message; only the request that found the doorbell free does this."""
        if self.celery is None:
            return
        try:
            await run_in_threadpool(self.celery.send_task, DRAIN_TASK, kwargs={"slot": 0}, retry=False)
        except Exception:  # the beat tick rings within a second or so
            log.warning("could not publish a drain message", exc_info=True)

    async def healthz(self, request: Request) -> Response:
        return Response(_OK, media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        try:
            await self.redis.ping()
        except redis.exceptions.RedisError:
            return error(503, "unavailable", "the queue is unreachable")
        return Response(_OK, media_type="application/json")

    async def metrics_text(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)
