"""Per-process resources of a worker: built lazily in the process that uses them, so after Celery forks."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from functools import cached_property

from celery import Celery
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared.accounts import Environs
from shared.connections import Connections
from shared.db import accounts as accounts_table
from shared.ops.service import OperatorService
from shared.providers import Provider, all_providers
from shared.settings import Settings

# A drain's blocking read waits up to a few tens of milliseconds; everything else answers at once.
SOCKET_TIMEOUT_SECONDS = 10.0
# How old the accounts a drain reads may be, at most, when their version's bump was lost with Redis.
ACCOUNTS_RELOAD_SECONDS = 60.0
# Set when this process was asked to stop (SIGTERM): a drain commits the batch in hand and hands over.
STOPPING = threading.Event()
STOPPING_HANDLER_INSTALLED = threading.Event()


class WorkerContext(Connections):
    """The connections every process has (``shared.connections``), and what is a worker's own: its process,
    its name in the consumer group, the providers, the Celery app that rings (None in tests that run drains
    in-process), bulk jobs."""

    def __init__(self, settings: Settings, pid: int, celery: Celery | None = None) -> None:
        super().__init__(settings, pool_size=2, socket_timeout=SOCKET_TIMEOUT_SECONDS, celery=celery)
        self.pid = pid
        self._environs: Environs | None = None
        self._accounts_version: bytes | str | None = None
        self._accounts_loaded_at = 0.0

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

    def account_environs(self) -> Environs:
        """Every account's environment (a drain reads each account's own ``verify``): loaded again when the
        accounts' version in Redis moves, or a minute has passed; the last ones while neither can be read, and
        before any could be, the settings' alone (a stored account's callbacks then wait for confirmation)."""
        try:
            version = self.redis.get(self.keys.accounts_version)
        except (RedisError, OSError):
            version = self._accounts_version
        fresh = time.monotonic() - self._accounts_loaded_at < ACCOUNTS_RELOAD_SECONDS
        if self._environs is not None and version == self._accounts_version and fresh:
            return self._environs
        try:
            with self.sessions.begin() as session:
                stored = accounts_table.load(session, self.sealer)
        except SQLAlchemyError:
            return self._environs or Environs(self.settings.environ)
        self._environs = Environs.of_accounts(self.settings.environ, stored)
        self._accounts_version, self._accounts_loaded_at = version, time.monotonic()
        return self._environs

    def close(self) -> None:
        if "operator_service" in self.__dict__:
            self.operator_service.close()
        super().close()


_current: WorkerContext | None = None


def current(settings: Settings, celery: Celery | None) -> WorkerContext:
    """This process's context; a forked child never reuses its parent's connections."""
    global _current  # noqa: PLW0603 - one context per process is the point
    pid = os.getpid()
    if _current is None or _current.pid != pid:
        _current = WorkerContext(settings=settings, pid=pid, celery=celery)
    return _current
