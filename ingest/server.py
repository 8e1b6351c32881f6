"""Building the receiver app; ``ingest.app`` holds the instance uvicorn serves."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from ingest import openapi
from ingest.admin import Admin
from ingest.appender import Appender
from ingest.errors import http_exception, server_error
from ingest.metrics import ReceiverMetrics
from ingest.routes import CallbackEndpoint, FastPath, Operations, doorbell
from shared.celery_app import make_celery
from shared.providers import load_providers
from shared.queue import QueueKeys
from shared.settings import Settings

# Redis unreachable must turn into a 503 in about 100 ms: short connect timeout, no client-side retries.
CONNECT_TIMEOUT_SECONDS = 0.1
IO_TIMEOUT_SECONDS = 2.0


def make_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=IO_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        retry_on_error=[],
        max_connections=64,
    )


def create_app(settings: Settings | None = None, redis: Redis | None = None, *, ring: bool = True) -> FastPath:
    settings = settings or Settings.from_env()
    providers = load_providers(settings)
    redis = redis or make_redis(settings)
    metrics = ReceiverMetrics(CollectorRegistry(), list(providers))
    appender = Appender(
        redis,
        QueueKeys(settings.queue_prefix),
        doorbell(make_celery(settings) if ring else None),
        metrics.observe_append,
    )
    callbacks = CallbackEndpoint(providers, appender, settings, metrics)
    operations = Operations(redis, metrics, orjson.dumps(openapi.document(list(providers))))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything built so far lives as long as the process: keep it out of the cyclic collector's
        # reach, so that full collections stay short and do not show up as latency spikes.
        gc.collect()
        gc.freeze()
        yield
        await redis.aclose()

    routes = [
        Route("/callbacks/{provider}", callbacks, methods=["POST", "GET", "HEAD"]),
        Route("/healthz", operations.healthz, methods=["GET"]),
        Route("/readyz", operations.readyz, methods=["GET"]),
        Route("/metrics", operations.metrics_text, methods=["GET"]),
        Route("/openapi.json", operations.openapi, methods=["GET"]),
        Admin(settings).mount(),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_exception, Exception: server_error}
    )
    return FastPath(app, callbacks, settings.max_concurrent_requests)
