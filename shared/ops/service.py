"""What operators do, in one place for the admin API, the CLI and the console: look payments up; list, show,
replay and purge dead letters; manage the outbox's endpoints and deliveries. Entry points own this object and
its connections."""

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

from shared import webhooks
from shared.backlog import QueueStats, queue_stats
from shared.canonical import EVENT_TYPES
from shared.celery_app import make_celery
from shared.connections import sync_redis
from shared.db import dead_letters as dlq
from shared.db import outbox, spool
from shared.db.engine import make_engine, make_sessionmaker
from shared.db.payments import find_payment, history
from shared.doorbell import Doorbell
from shared.ops.documents import letter_document, letter_summary, payment_document
from shared.ops.outbox_documents import delivery_document, delivery_summary, endpoint_document
from shared.providers import all_providers
from shared.queue import QueueKeys
from shared.settings import Settings

# How long a rotated-out secret keeps signing, unless the operator says otherwise.
ROTATION_OVERLAP_SECONDS = 86_400.0


class Refused(ValueError):
    """An operator's request payhook will not carry out; the message says why."""


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

    # -- the outbox -------------------------------------------------------------------------------------

    def _check_filters(self, events: list[str] | None, provider: str | None) -> None:
        unknown = sorted(set(events or ()) - set(EVENT_TYPES))
        if unknown:
            raise Refused(f"unknown event types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
        if provider is not None and provider not in all_providers():
            raise Refused(f"unknown provider {provider!r}; known: {', '.join(all_providers())}")

    def add_endpoint(self, url: str, events: list[str] | None, provider: str | None) -> dict[str, Any]:
        """A new endpoint, with its secret (shown here and at rotation only)."""
        try:
            webhooks.check_url(url, self.settings.endpoint_allowed_hosts)
        except webhooks.EndpointRefused as exc:
            raise Refused(str(exc)) from None
        self._check_filters(events, provider)
        secret = webhooks.new_secret()
        with self.session() as session:
            made = outbox.add_endpoint(session, self.sealer, url, secret, events, provider)
            return {**endpoint_document(made), "secret": secret}

    def endpoints(self) -> list[dict[str, Any]]:
        with self.session() as session:
            return [endpoint_document(e) for e in outbox.endpoints(session)]

    def endpoint(self, endpoint_id: int) -> dict[str, Any] | None:
        with self.session() as session:
            found = outbox.endpoint(session, endpoint_id)
            return None if found is None else endpoint_document(found)

    def change_endpoint(self, endpoint_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Change url, events, provider or enabled; None when there is no such endpoint."""
        if "url" in changes:
            try:
                webhooks.check_url(changes["url"], self.settings.endpoint_allowed_hosts)
            except webhooks.EndpointRefused as exc:
                raise Refused(str(exc)) from None
        self._check_filters(changes.get("event_types"), changes.get("provider"))
        with self.session() as session:
            found = outbox.endpoint(session, endpoint_id, lock=True)
            if found is None:
                return None
            if found.kind == "handler" and "url" in changes:
                raise Refused("a handler has no URL")
            document = endpoint_document(outbox.change_endpoint(session, found, changes))
        if changes.get("enabled"):
            self._ring_deliveries()
        return document

    def remove_endpoint(self, endpoint_id: int) -> bool:
        with self.session() as session:
            return outbox.remove_endpoint(session, endpoint_id)

    def rotate_secret(self, endpoint_id: int, keep_seconds: float = ROTATION_OVERLAP_SECONDS) -> dict[str, Any] | None:
        secret = webhooks.new_secret()
        with self.session() as session:
            found = outbox.endpoint(session, endpoint_id, lock=True)
            if found is None:
                return None
            if found.kind != "webhook":
                raise Refused("a handler has no secret")
            until = outbox.rotate_secret(session, self.sealer, found, secret, keep_seconds)
            return {**endpoint_document(found), "secret": secret, "previous_secret_valid_until": until.isoformat()}

    def deliveries(
        self, filters: outbox.DeliveryFilters, *, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        with self.session() as session:
            return [delivery_summary(d, e) for d, e in outbox.deliveries(session, filters, limit=limit, before=before)]

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        with self.session() as session:
            found = outbox.delivery(session, delivery_id)
            return None if found is None else delivery_document(*found)

    def matching_deliveries(self, filters: outbox.DeliveryFilters) -> list[int]:
        with self.session() as session:
            return outbox.matching_deliveries(session, filters)

    def retry_deliveries(self, delivery_ids: Sequence[int]) -> list[int]:
        """Make deliveries due now with a fresh schedule; the ids made due."""
        with self.session() as session:
            done = outbox.retry(session, delivery_ids)
        if done:
            self._ring_deliveries()
        return done

    def _ring_deliveries(self) -> None:
        """Wake a delivery loop now rather than at the next tick; a failure here only delays it."""
        bell = self.doorbell.for_deliveries()
        try:
            if bell.take(0):
                bell.ring(0)
        except (RedisConnectionError, RedisTimeoutError):
            pass
