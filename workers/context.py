"""Per-process resources of a worker: built lazily in the process that uses them, so after Celery forks."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass
from functools import cached_property

from celery import Celery
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.connections import sync_redis
from shared.db.engine import make_engine, make_sessionmaker
from shared.doorbell import Doorbell
from shared.ops.service import OperatorService
from shared.providers import Provider, all_providers
from shared.queue import QueueKeys
from shared.sealing import Sealer
from shared.settings import Settings

# A drain's blocking read waits up to a few tens of milliseconds; everything else answers at once.
SOCKET_TIMEOUT_SECONDS = 10.0
# Set when this process was asked to stop (SIGTERM): a drain commits the batch in hand and hands over.
STOPPING = threading.Event()
STOPPING_HANDLER_INSTALLED = threading.Event()


@dataclass
class WorkerContext:
    settings: Settings
    pid: int
    # Rings doorbells; None in tests that run drains in-process.
    celery: Celery | None = None

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings, pool_size=2)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    @cached_property
    def redis(self) -> Redis:
        return sync_redis(self.settings, socket_timeout=SOCKET_TIMEOUT_SECONDS)

    @cached_property
    def doorbell(self) -> Doorbell:
        return Doorbell(self.keys, redis=self.redis, celery=self.celery)

    @cached_property
    def sealer(self) -> Sealer:
        return self.settings.sealer

    @cached_property
    def keys(self) -> QueueKeys:
        return QueueKeys(self.settings.queue_prefix)

    @cached_property
    def providers(self) -> dict[str, Provider]:
        return all_providers()

    @cached_property
    def consumer(self) -> str:
        """This context's name in the consumer group: unique per process, and per context within one."""
        return f"{socket.gethostname()}:{self.pid}:{secrets.token_hex(3)}"

    @cached_property
    def operator_service(self) -> OperatorService:
        """Operator actions that run in workers: bulk jobs."""
        return OperatorService(self.settings, pool_size=1)

    def close(self) -> None:
        if "operator_service" in self.__dict__:
            self.operator_service.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "redis" in self.__dict__:
            self.redis.close()


_current: WorkerContext | None = None


def current(settings: Settings, celery: Celery | None) -> WorkerContext:
    """This process's context; a forked child never reuses its parent's connections."""
    global _current  # noqa: PLW0603 - one context per process is the point
    pid = os.getpid()
    if _current is None or _current.pid != pid:
        _current = WorkerContext(settings=settings, pid=pid, celery=celery)
    return _current
