"""Redis clients, made one way for every process (the database's engine: ``shared.db.engine``).

Call these once per process, after Celery forks, never at import time.
"""

from __future__ import annotations

from redis import Redis
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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


def receiver_redis(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=RECEIVER_CONNECT_TIMEOUT,
        socket_timeout=RECEIVER_IO_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        retry_on_error=[],
        max_connections=64,
    )
