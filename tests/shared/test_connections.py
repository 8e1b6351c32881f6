"""One deployment's connections, each made on first use: a command that only reads the database never
touches Redis; a session commits when its block ends and rolls back on an error; the receiver's Redis fails
at once. On the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text

from shared.connections import Connections, receiver_redis
from shared.settings import Settings

pytestmark = pytest.mark.integration


def test_only_what_is_used_is_made(settings: Settings) -> None:
    connections = Connections(settings, pool_size=1, celery=None)
    with connections.session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    assert "engine" in connections.__dict__ and "redis" not in connections.__dict__
    assert connections.celery is None and connections.doorbell.keys.prefix == settings.queue_prefix
    assert connections.redis.ping()
    connections.close()


def test_a_session_commits_at_the_end_of_its_block_and_rolls_back_on_an_error(settings: Settings) -> None:
    connections = Connections(settings, pool_size=1, celery=None)
    insert = text("INSERT INTO audit_log (actor, action, count, outcome) VALUES (:actor, 'test', 0, 'ok')")
    with connections.session() as session:
        session.execute(insert, {"actor": "kept"})

    def failing_block() -> None:
        with connections.session() as session:
            session.execute(insert, {"actor": "dropped"})
            raise RuntimeError("the block failed")

    with pytest.raises(RuntimeError):
        failing_block()
    with connections.session() as session:
        assert session.execute(text("SELECT actor FROM audit_log")).scalars().all() == ["kept"]
    connections.close()


def test_the_receivers_redis_fails_at_once_when_it_is_unreachable(settings: Settings) -> None:
    unreachable = dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0")

    async def ping() -> None:
        client = receiver_redis(unreachable)
        try:
            await client.ping()
        finally:
            await client.aclose()

    with pytest.raises(RedisConnectionError):
        asyncio.run(ping())
