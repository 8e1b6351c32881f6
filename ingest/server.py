"""Building the receiver app; ``ingest.app`` holds the instance uvicorn serves."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from ingest import openapi
from ingest.accounts import RouteBuilder, Routes, RouteWatcher
from ingest.accounts import routes as account_routes
from ingest.appender import Appender
from ingest.metrics import ReceiverMetrics, ScrapeFigures
from ingest.routes import CallbackEndpoint, FastPath, Probes
from ingest.shutdown import GracefulShutdown
from ingest.spool import Spool
from shared.backlog import queue_stats_if_reachable
from shared.celery_app import make_celery
from shared.connections import Connections, receiver_redis
from shared.db import accounts as accounts_table
from shared.db import checks, dead_letters
from shared.db import spool as spool_table
from shared.doorbell import Doorbell
from shared.errors import http_exception, server_error
from shared.ops.api import AdminApi
from shared.ops.console.app import FAVICON_ROUTE, Console
from shared.ops.service import OperatorService
from shared.providers import Configured, load_providers
from shared.queue import QueueKeys
from shared.settings import Settings
from shared.slashes import relative_redirects


def queue_reader(connections: Connections) -> Callable[[], ScrapeFigures]:
    """The queue's numbers for the scrape. Its connections open at the first scrape."""

    def read() -> ScrapeFigures:
        stats = queue_stats_if_reachable(connections.redis, connections.keys)
        try:
            with connections.session() as session:
                spooled, waiting = spool_table.count(session), dead_letters.count_waiting(session)
                return ScrapeFigures(stats, spooled, waiting, checks.count_unresolved(session))
        except SQLAlchemyError:
            return ScrapeFigures(stats)

    return read


ACCOUNTS_AT_START_SECONDS = 5.0


def account_loader(connections: Connections, defaults: dict[str, Configured]) -> Callable[[], Routes]:
    """Reads the stored accounts and builds the routing table (blocking: run off the event loop)."""
    build = RouteBuilder(defaults, connections.settings.environ)

    def load() -> Routes:
        with connections.session() as session:
            stored = accounts_table.load(session, connections.sealer)
        return build(stored)

    return load


def create_app(
    settings: Settings | None = None,
    redis: Redis | None = None,
    *,
    providers: dict[str, Configured] | None = None,
    ring: bool = True,
) -> FastPath:
    """The web process's app. ``providers`` default to those configured by the settings' environment."""
    settings = settings or Settings.from_env()
    providers = providers if providers is not None else load_providers(settings.environ)
    redis = redis or receiver_redis(settings)
    metrics = ReceiverMetrics(CollectorRegistry(), list(providers))
    doorbell = Doorbell(QueueKeys(settings.queue_prefix), celery=make_celery(settings) if ring else None)
    appender = Appender(redis, doorbell, metrics.observe_append, settings.append_timeout_seconds)
    spool = Spool(settings) if settings.fallback_spool else None
    callbacks = CallbackEndpoint(account_routes(providers, (), settings.environ), appender, settings, metrics, spool)
    # The process's own connections (each opened on first use), closed when the app stops: an app that is
    # started and stopped again (tests, an embedding server) leaves no PostgreSQL connection behind.
    scrape, accounts, ops = (
        Connections(settings, pool_size=1),
        Connections(settings, pool_size=1),
        OperatorService(settings),
    )
    watcher = RouteWatcher(
        redis, QueueKeys(settings.queue_prefix).accounts_version, account_loader(accounts, providers), callbacks.install
    )
    shutdown = GracefulShutdown(settings.shutdown_grace_seconds)
    document = openapi.document([c.provider for c in providers.values()], admin=bool(settings.actors))
    probes = Probes(redis, metrics, orjson.dumps(document), shutdown, spool, queue_reader(scrape))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        shutdown.install()
        # The accounts before the first callback, if PostgreSQL answers in time (else the defaults until it does).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(watcher.refresh(), ACCOUNTS_AT_START_SECONDS)
        # Everything built so far, the routing table included, lives as long as the process (reloads keep every
        # unchanged entry): keep it out of the cyclic collector's reach, so that full collections stay short.
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        watches = [loop.create_task(appender.watch_memory(settings.redis_high_water)), loop.create_task(watcher.run())]
        yield
        for watch in watches:
            watch.cancel()
        if spool is not None:
            await spool.close()
        await redis.aclose()
        for connections in (scrape, accounts, ops):
            await asyncio.to_thread(connections.close)
        gc.unfreeze()

    routes = [
        Route("/callbacks/{route:path}", callbacks, methods=["POST", "GET", "HEAD"]),
        Route("/healthz", probes.healthz, methods=["GET"]),
        Route("/readyz", probes.readyz, methods=["GET"]),
        Route("/metrics", probes.metrics_text, methods=["GET"]),
        Route("/openapi.json", probes.openapi, methods=["GET"]),
        AdminApi(settings, ops).mount(),
        *([Console(settings, ops).mount(), FAVICON_ROUTE] if settings.actors else []),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_exception, Exception: server_error}
    )
    relative_redirects(app)
    return FastPath(app, callbacks, settings.max_concurrent_requests, shutdown)
