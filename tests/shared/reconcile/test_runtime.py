"""The process side of status queries against the real Redis and a local HTTP server: the rate limit holds in
every one-second window across clients, tokens are shared and sealed, a request never raises."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from redis import Redis
from redis import asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.reconcile.runtime import MAX_REPLY_BYTES, ApiRuntime, RateLimit, RedisTokens
from shared.sealing import Sealer
from shared.status_api import Answer, Reply
from tests.conftest import REDIS_URL
from tests.support.net import free_port

pytestmark = pytest.mark.integration
FERNET_KEY = "9fTpMgd6Gf0G3zqHn8pL0d1X1ZcS2oJYf4Yf3aQbL2o="


async def _grants(prefix: str, per_second: int, clients: int, each: int) -> list[float]:
    """Start times granted to ``clients`` limiters (as separate processes would hold) asking ``each`` times."""
    connections = [aioredis.Redis.from_url(REDIS_URL) for _ in range(clients)]
    limits = [RateLimit(redis, prefix, per_second) for redis in connections]
    try:
        started = await asyncio.gather(*(limit.wait("pivot") for limit in limits for _ in range(each)))
    finally:
        for redis in connections:
            await redis.aclose()
    return sorted(started)


def test_no_one_second_window_holds_more_than_the_rate_across_clients(prefix: str) -> None:
    starts = asyncio.run(_grants(prefix, per_second=5, clients=3, each=6))
    assert len(starts) == 18
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1]
        assert len(in_window) <= 5, (start, in_window)
    # 18 starts at 5 per second need at least three more seconds after the first.
    assert starts[-1] - starts[0] >= 3


def test_after_a_quiet_spell_there_is_no_burst_above_the_rate(prefix: str) -> None:
    async def two_bursts() -> list[float]:
        first = await _grants(prefix, 4, 1, 4)
        await asyncio.sleep(1.2)
        return first + await _grants(prefix, 4, 2, 4)

    starts = asyncio.run(two_bursts())
    for i, start in enumerate(starts):
        assert len([s for s in starts[i:] if s < start + 1]) <= 4


@pytest.mark.parametrize("sealed", [False, True])
def test_tokens_are_shared_sealed_and_dropped_only_if_unchanged(prefix: str, sealed: bool) -> None:
    sealer = Sealer((FERNET_KEY,) if sealed else ())
    raw = Redis.from_url(REDIS_URL)

    async def scenario() -> tuple[str | None, str | None, str | None]:
        one, two = aioredis.Redis.from_url(REDIS_URL), aioredis.Redis.from_url(REDIS_URL)
        a, b = RedisTokens(one, prefix, sealer), RedisTokens(two, prefix, sealer)
        await a.put("pivot:x", "token-1", 60)
        shared = await b.get("pivot:x")
        [key] = raw.keys(f"{prefix}:api-token:*")
        assert (key == f"{prefix}:api-token:pivot:x".encode()) is not sealed  # no digest of a credential in clear
        stored = raw.get(key)
        assert stored is not None and (b"token-1" not in stored) is sealed
        await a.put("pivot:x", "token-2", 60)  # another process renewed it meanwhile
        await b.drop("pivot:x", "token-1")  # b's stale drop leaves the new one
        kept = await a.get("pivot:x")
        await a.drop("pivot:x", "token-2")
        gone = await b.get("pivot:x")
        await one.aclose()
        await two.aclose()
        return shared, kept, gone

    assert asyncio.run(scenario()) == ("token-1", "token-2", None)
    raw.close()


@pytest.fixture
def server() -> Iterator[str]:
    async def small(request: Request) -> Response:
        return Response(b'{"ok":true}', headers={"Retry-After": "3"}, media_type="application/json")

    async def huge(request: Request) -> Response:
        return Response(b"x" * (MAX_REPLY_BYTES + 10))

    async def slow(request: Request) -> Response:
        await asyncio.sleep(3)
        return Response(b"late")

    async def redirect(request: Request) -> Response:
        return Response(status_code=302, headers={"Location": "/small"})

    app = Starlette(routes=[Route(f"/{f.__name__}", f) for f in (small, huge, slow, redirect)])
    port = free_port()
    config = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=config.run, daemon=True)
    thread.start()
    while not config.started:
        threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}"
    config.should_exit = True
    thread.join(5)


def test_a_request_is_timed_limited_in_size_and_time_and_never_raises(prefix: str, server: str) -> None:
    timed: list[tuple[str, float]] = []

    async def scenario() -> list[Reply | Answer]:
        runtime = ApiRuntime(
            REDIS_URL, prefix, Sealer(), rate=50, timeout=1.0, observe=lambda p, s: timed.append((p, s))
        )
        async with runtime:
            send = runtime.context("pivot").send
            paths = ("small", "huge", "slow", "redirect")
            answers = [await send("GET", f"{server}/{path}", headers={}) for path in paths]
            answers.append(await send("GET", "http://127.0.0.1:1/refused", headers={}))
            return answers

    small, huge, slow, redirect, refused = asyncio.run(scenario())
    assert isinstance(small, Reply) and small.status == 200 and small.headers["Retry-After"] == "3"
    assert isinstance(huge, Answer) and "over" in huge.provider_status
    assert isinstance(slow, Answer) and slow.provider_status == "no answer within 1 s"
    assert isinstance(redirect, Reply) and redirect.status == 302  # never followed
    assert isinstance(refused, Answer) and refused.provider_status.startswith("no answer: Client")
    assert [p for p, _ in timed] == ["pivot"] * 5


def test_hundreds_of_requests_waiting_at_once_share_one_connection_pool(prefix: str) -> None:
    # A round at a high rate: every request of it waits for its turn together, on one process's connections.
    async def scenario() -> list[float]:
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            limit = RateLimit(redis, prefix, 300)
            return list(await asyncio.gather(*(limit.wait("pivot") for _ in range(250))))
        finally:
            await redis.aclose()

    assert len(asyncio.run(scenario())) == 250


def test_a_round_reads_its_shared_token_at_once_without_losing_it(prefix: str) -> None:
    async def scenario() -> list[str | None]:
        async with ApiRuntime(REDIS_URL, prefix, Sealer(), rate=50, timeout=1.0) as runtime:
            await runtime.tokens.put("pivot:x", "token-1", 60)
            return list(await asyncio.gather(*(runtime.tokens.get("pivot:x") for _ in range(250))))

    assert asyncio.run(scenario()) == ["token-1"] * 250
