"""Connections, made one way for every process: the Redis clients, and ``Connections``, the lazy bag of engine,
sessions, Redis and doorbell that workers (``workers.context``) and operator code (``shared.ops``) both stand on.

Make them once per process, after Celery forks, never at import time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import hiredis
from celery import Celery
from redis import Redis
from redis import asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import DataError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.celery_app import make_celery
from shared.db.engine import make_engine, make_sessionmaker
from shared.doorbell import Doorbell
from shared.queue import QueueKeys
from shared.sealing import Sealer
from shared.settings import Settings

# The receiver must turn an unreachable Redis into an answer in about 100 ms: a short connect timeout and
# no client-side retries.
RECEIVER_CONNECT_TIMEOUT = 0.1
RECEIVER_IO_TIMEOUT = 2.0


def sync_redis(settings: Settings, *, socket_timeout: float = 5.0) -> Redis:
    """For workers and operators: waits up to ``socket_timeout`` for an answer (a worker's blocking read
    needs more than the default)."""
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )


def receiver_redis(
    settings: Settings, *, connect_timeout: float = RECEIVER_CONNECT_TIMEOUT, io_timeout: float = RECEIVER_IO_TIMEOUT
) -> aioredis.Redis:
    client = aioredis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=io_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_error=[],
        max_connections=64,
    )
    pool = client.connection_pool
    pool.connection_class = _packed_in_c(pool.connection_class)
    return client


class _PacksInC:
    """Commands packed by hiredis, in C. redis-py's asyncio connection packs them in Python, some thousand
    instructions per argument, and every callback the receiver appends is four arguments of one script call.
    The first argument is split as redis-py splits it (``CONFIG GET``)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:  # what redis-py's encoder raises for a value it cannot send
            raise DataError(str(exc)) from exc


def _packed_in_c(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """``base`` (plain, TLS or Unix socket, as the URL says) packing in C; made once per client."""
    return type(f"PackedInC{base.__name__}", (_PacksInC, base), {})


class _Made(enum.Enum):
    ON_FIRST_USE = "on first use"


class Connections:
    """The database engine and its sessions, Redis and the doorbell of one deployment, each made on first use:
    a command that only reads the database never touches Redis. ``celery`` rings doorbells: made from the
    settings on first use unless given; None rings nothing (tests that drain in-process)."""

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 2,
        socket_timeout: float = 5.0,
        celery: Celery | _Made | None = _Made.ON_FIRST_USE,
    ) -> None:
        self.settings = settings
        self.keys = QueueKeys(settings.queue_prefix)
        self._pool_size = pool_size
        self._socket_timeout = socket_timeout
        self._celery = celery

    @cached_property
    def sealer(self) -> Sealer:
        return self.settings.sealer

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings, pool_size=self._pool_size)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    @cached_property
    def redis(self) -> Redis:
        return sync_redis(self.settings, socket_timeout=self._socket_timeout)

    @cached_property
    def celery(self) -> Celery | None:
        return make_celery(self.settings) if self._celery is _Made.ON_FIRST_USE else self._celery

    @cached_property
    def doorbell(self) -> Doorbell:
        return Doorbell(self.keys, redis=self.redis, celery=self.celery)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction, committed when the block ends without an error."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "redis" in self.__dict__:
            self.redis.close()
