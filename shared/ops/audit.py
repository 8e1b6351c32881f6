"""What every operator action stands on: connections made on first use, and the audit trail.

An action that changes something runs in ``audited``: its audit entry (actor, action, target or filter, count,
outcome) is written in the action's own transaction, so there is no change without its entry; an action that
fails or is refused is recorded too, in a transaction of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.celery_app import make_celery
from shared.connections import sync_redis
from shared.db import audit
from shared.db.engine import make_engine, make_sessionmaker
from shared.doorbell import Doorbell
from shared.queue import QueueKeys
from shared.settings import Settings

log = logging.getLogger(__name__)


class Refused(ValueError):
    """An operator's request payhook will not carry out; the message says why."""


@dataclass(slots=True)
class AuditResult:
    """Filled in by an audited action: how many things it touched and how it ended."""

    text: str = "done"
    count: int | None = None


class Connections:
    def __init__(self, settings: Settings, *, pool_size: int = 2) -> None:
        self.settings = settings
        self.sealer = settings.sealer
        self.keys = QueueKeys(settings.queue_prefix)
        self._pool_size = pool_size

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings, pool_size=self._pool_size)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    @cached_property
    def redis(self) -> Redis:
        return sync_redis(self.settings)

    @cached_property
    def doorbell(self) -> Doorbell:
        return Doorbell(self.keys, redis=self.redis, celery=make_celery(self.settings))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "redis" in self.__dict__:
            self.redis.close()

    @contextmanager
    def audited(
        self,
        actor: str,
        action: str,
        *,
        target: str | None = None,
        filters: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Iterator[tuple[Session, AuditResult]]:
        """Run an action in a transaction that also records it."""
        outcome = AuditResult()
        try:
            with self.session() as session:
                yield session, outcome
                entry = audit.Action(actor, action, outcome.text, target, filters, outcome.count, dry_run)
                audit.record(session, entry)
        except Exception as exc:
            state = "refused" if isinstance(exc, Refused) else "failed"
            self._record_failure(audit.Action(actor, action, f"{state}: {exc}", target, filters, None, dry_run))
            raise

    def _record_failure(self, action: audit.Action) -> None:
        try:
            with self.session() as session:
                audit.record(session, action)
        except Exception as exc:  # the database is what failed: the log keeps what the trail cannot
            log.error("could not record %s by %s in the audit trail: %s", action.action, action.actor, exc)

    def ring_deliveries(self) -> None:
        """Wake a delivery loop now rather than at the next tick; a failure here only delays it."""
        with suppress(RedisConnectionError, RedisTimeoutError):
            self.doorbell.for_deliveries().ring_if_free(0)
