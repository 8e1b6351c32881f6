"""What operators do, in one place for the admin API, the CLI and the console: look payments up, and list,
show, replay and purge dead letters. Entry points own this object and its connections."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.backlog import QueueStats, queue_stats
from shared.celery_app import make_celery
from shared.connections import sync_redis
from shared.db import dead_letters as dlq
from shared.db import spool
from shared.db.engine import make_engine, make_sessionmaker
from shared.db.payments import find_payment, history
from shared.doorbell import Doorbell
from shared.ops.documents import letter_document, letter_summary, payment_document
from shared.queue import QueueKeys
from shared.settings import Settings


class Operations:
    """Connections are made on first use: a command that only reads the database never touches Redis."""

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

    # -- payments ---------------------------------------------------------------------------------------

    def payment(self, provider: str, reference: str) -> dict[str, Any] | None:
        with self.session() as session:
            found = find_payment(session, provider, reference)
            return None if found is None else payment_document(found, history(session, found))

    # -- the queue --------------------------------------------------------------------------------------

    def queue(self) -> QueueStats | None:
        """The stream's numbers; None while Redis is unreachable."""
        try:
            return queue_stats(self.redis, self.keys)
        except (RedisConnectionError, RedisTimeoutError):
            return None

    def spooled(self) -> int:
        with self.session() as session:
            return spool.count(session)

    def waiting_letters(self) -> int:
        with self.session() as session:
            return dlq.count_waiting(session)

    # -- dead letters -----------------------------------------------------------------------------------

    def letters(self, filters: dlq.Filters, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        with self.session() as session:
            found = dlq.list_letters(session, filters, limit=limit, offset=offset)
            return [letter_summary(x, self.sealer) for x in found]

    def letter(self, letter_id: int) -> dict[str, Any] | None:
        with self.session() as session:
            found = dlq.get(session, letter_id)
            return None if found is None else letter_document(found, self.sealer)

    def matching(self, filters: dlq.Filters) -> list[int]:
        with self.session() as session:
            return dlq.matching_ids(session, filters)

    def replay(self, letter_ids: Sequence[int]) -> list[int]:
        """Send each letter's original callback through the pipeline again; the ids replayed."""
        if not letter_ids:
            return []
        with self.session() as session:
            letters = dlq.mark_replayed(session, letter_ids)
            # Appended before the mark commits: a failed append marks nothing (see mark_replayed).
            self.doorbell.append_all([dlq.original(letter, self.sealer) for letter in letters])
            return [x.id for x in letters]

    def purge(self, letter_ids: Sequence[int]) -> int:
        with self.session() as session:
            return dlq.purge(session, letter_ids)
