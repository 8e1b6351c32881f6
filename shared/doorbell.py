"""The doorbell: how work in the stream gets a drain, with about one Celery message per burst.

Each drain slot has a doorbell key. Appending a callback takes doorbell 0 (``SET NX``, in the append script of
the queue contract, ``shared.queue``); only the append that found it free *rings*: publishes a
``payhook.drain`` message for slot 0. The drain holds its doorbell while it runs and releases it when the
stream is empty, then reads once more, which closes the race with a concurrent append. A drain whose batch
came back full takes the next slot's doorbell and rings it, so more processes help, up to
``PAYHOOK_MAX_DRAINS``. A doorbell left by a drain that died expires after ``BELL_TTL_SECONDS``; the periodic
tick rings a lost one. The same bells call the outbox's delivery loops and the reconcile loop.
"""

from __future__ import annotations

import contextlib
import logging

from celery import Celery
from redis import Redis
from redis.exceptions import OutOfMemoryError, RedisError

from shared.celery_app import DELIVER_TASK, DRAIN_TASK, RECONCILE_TASK
from shared.queue import BELL_TTL_SECONDS, QueueKeys

log = logging.getLogger(__name__)


class Doorbell:
    """Taking, holding, releasing and ringing the doorbells of one deployment.

    ``redis`` is needed to take, hold and release; ``celery`` to ring. The receiver has only the latter
    (its append script takes doorbell 0); workers and operators have both.
    """

    def __init__(
        self,
        keys: QueueKeys,
        *,
        redis: Redis | None = None,
        celery: Celery | None = None,
        task: str = DRAIN_TASK,
    ) -> None:
        self.keys = keys
        self._redis = redis
        self._celery = celery
        # The same bells call the outbox's delivery loops (``for_deliveries``) and the reconcile loop.
        self.task = task
        self._key = {
            DRAIN_TASK: keys.drain_bell_key,
            DELIVER_TASK: keys.delivery_bell_key,
            RECONCILE_TASK: keys.reconcile_bell_key,
        }[task]

    def for_deliveries(self) -> Doorbell:
        return Doorbell(self.keys, redis=self._redis, celery=self._celery, task=DELIVER_TASK)

    def for_reconcile(self) -> Doorbell:
        return Doorbell(self.keys, redis=self._redis, celery=self._celery, task=RECONCILE_TASK)

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("this doorbell was built without Redis")
        return self._redis

    def take(self, slot: int) -> bool:
        """True when the doorbell was free and is now ours: the caller must ring it. A Redis at its
        ``maxmemory`` refuses the write: then nobody takes it (the drain that runs goes on)."""
        try:
            return bool(self.redis.set(self._key(slot), b"1", nx=True, ex=BELL_TTL_SECONDS))
        except OutOfMemoryError:
            return False

    def hold(self, slot: int) -> None:
        """Keep a doorbell we took from expiring while its drain runs (not possible, and not needed, while
        Redis is at its ``maxmemory``: the drain frees memory as it goes)."""
        with contextlib.suppress(OutOfMemoryError):
            self.redis.set(self._key(slot), b"1", ex=BELL_TTL_SECONDS)

    def release(self, slot: int) -> None:
        self.redis.delete(self._key(slot))

    def ring(self, slot: int = 0) -> bool:
        """Publish a drain (or delivery loop) for ``slot``. Never raises: a ring that fails is repeated by the
        periodic tick."""
        if self._celery is None:
            return False
        try:
            self._celery.send_task(self.task, kwargs={"slot": slot}, retry=False)
        except Exception as exc:
            log.warning("could not publish %s for slot %d: %s", self.task, slot, type(exc).__name__)
            return False
        return True

    def ring_if_free(self, slot: int = 0) -> bool:
        """Take the doorbell and ring it, unless a drain (or delivery loop) holds it already."""
        return self.take(slot) and self.ring(slot)

    def ring_deliveries(self) -> bool:
        """Wake a delivery loop now rather than at the next tick, unless one holds delivery doorbell 0: after a
        batch that made deliveries, an endpoint enabled, deliveries retried. Never raises: a failure only
        delays them until the tick, which rings for deliveries that are due."""
        return self._wake(self.for_deliveries())

    def ring_reconcile(self) -> bool:
        """Wake the reconcile loop now, unless it runs: a callback waits for its provider's confirmation, an
        operator asked for queries. Never raises: the tick rings it when a query is due."""
        return self._wake(self.for_reconcile())

    @staticmethod
    def _wake(bell: Doorbell) -> bool:
        try:
            return bell.ring_if_free(0)
        except RedisError as exc:
            log.warning("could not ring %s: %s", bell.task, type(exc).__name__)
            return False
