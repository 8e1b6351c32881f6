"""Which workers are alive: each worker's tick thread stamps its name in a sorted set every second; a name not
stamped for ``WINDOW_SECONDS`` is a worker gone (and is dropped by the next stamp)."""

from __future__ import annotations

import time

from redis import Redis

from shared.queue import QueueKeys

WINDOW_SECONDS = 15.0


def stamp(redis: Redis, keys: QueueKeys, name: str, now: float | None = None) -> None:
    """One round trip: stamp ``name``, forget the names of workers long gone."""
    now = time.time() if now is None else now
    with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.workers_alive, {name: now})
        pipe.zremrangebyscore(keys.workers_alive, "-inf", now - 4 * WINDOW_SECONDS)
        pipe.execute()


def alive(redis: Redis, keys: QueueKeys, now: float | None = None) -> int:
    """How many workers stamped their name in the last ``WINDOW_SECONDS``."""
    now = time.time() if now is None else now
    return int(redis.zcount(keys.workers_alive, now - WINDOW_SECONDS, "+inf"))
