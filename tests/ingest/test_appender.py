"""The appender's batching, over fakeredis (no I/O): callbacks that arrive while a script call is in flight
go together in the next one, at most ``MAX_BATCH`` to a call, each request answered with its own entry id in
order; a failed call fails only its own batch and sends the next callbacks to the spool for a moment."""

from __future__ import annotations

import asyncio

import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from redis.exceptions import ConnectionError as RedisConnectionError

from ingest.appender import MAX_BATCH, Appender
from shared.doorbell import Doorbell
from shared.queue import QueuedCallback, QueueKeys

KEYS = QueueKeys("appender-test")


def _callback(n: int) -> QueuedCallback:
    return QueuedCallback("pivot", b'{"n": %d}' % n, {}, 1_750_000_000.0 + n)


def _appender(redis: FakeAsyncRedis, batches: list[int]) -> Appender:
    return Appender(redis, Doorbell(KEYS), lambda seconds, size: batches.append(size), timeout=5.0)


def test_callbacks_arriving_together_go_in_bounded_batches_in_order() -> None:
    async def run() -> tuple[list[bytes], list[int], list[QueuedCallback]]:
        redis, batches = FakeAsyncRedis(), list[int]()
        appender = _appender(redis, batches)
        futures = [appender.append(_callback(n)) for n in range(MAX_BATCH + 44)]
        ids = list(await asyncio.gather(*futures))
        stream: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(KEYS.stream)  # type: ignore[assignment]
        return ids, batches, [QueuedCallback.decode(fields) for _, fields in stream]

    ids, batches, stored = asyncio.run(run())
    assert batches == [MAX_BATCH, 44]
    assert stored == [_callback(n) for n in range(MAX_BATCH + 44)]
    assert len(set(ids)) == len(ids) and ids == sorted(ids, key=lambda i: tuple(map(int, i.split(b"-"))))


def test_callbacks_arriving_during_a_call_go_in_the_next_one() -> None:
    async def run() -> list[int]:
        batches: list[int] = []
        appender = _appender(FakeAsyncRedis(), batches)
        first = appender.append(_callback(0))
        await asyncio.sleep(0)  # the first call is under way
        later = [appender.append(_callback(n)) for n in range(1, 4)]
        await asyncio.gather(first, *later)
        return batches

    assert asyncio.run(run()) == [1, 3]


def test_a_request_that_gave_up_is_not_appended() -> None:
    async def run() -> int:
        redis = FakeAsyncRedis()
        appender = _appender(redis, [])
        given_up = appender.append(_callback(0))
        given_up.cancel()
        await appender.append(_callback(1))
        return int(await redis.xlen(KEYS.stream))

    assert asyncio.run(run()) == 1


def test_a_failed_call_fails_its_batch_and_redis_is_given_up_on_for_a_moment() -> None:
    async def run() -> bool:
        server = FakeServer()
        appender = _appender(FakeAsyncRedis(server=server), [])
        assert appender.available
        server.connected = False  # fakeredis's own way of a Redis that went away
        with pytest.raises(RedisConnectionError):
            await appender.append(_callback(0))
        return appender.available

    assert asyncio.run(run()) is False
