"""The process side of status queries: HTTP with a time limit, every request inside the provider's rate across
every process, bearer tokens kept in Redis for every process, each request timed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from shared.providers import Provider
from shared.sealing import Sealer
from shared.status_api import Answer, ApiContext, Client, Reply

# An answer larger than this is not a status: it is cut off and counts as malformed.
MAX_REPLY_BYTES = 1 << 20
# A provider counts requests per second: a request may start only where fewer than ``rate`` started in the second
# before it (by Redis's clock, the one every process shares). Sliding, so no burst follows a quiet spell. A request
# that finds the second full reserves the earliest start that keeps every second within the rate (a second after
# the rate-th latest start) and sleeps until then: asking again once a turn freed lost the time to wake up and ask
# on every turn, a tenth of the rate on a busy machine. Starts are reserved in order, so each is the latest.
_RATE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1)
local count = redis.call('ZCARD', KEYS[1])
local at = now
if count >= rate then
  local nth = redis.call('ZRANGE', KEYS[1], count - rate, count - rate, 'WITHSCORES')
  at = math.max(now, tonumber(nth[2]) + 1)
end
redis.call('ZADD', KEYS[1], at, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil((at - now) * 1000) + 2000)
return {string.format('%.6f', at), string.format('%.6f', at - now)}
"""
# Redis connections of one process's status clients: the rate's turns, tokens.
REDIS_CONNECTIONS = 8
_DROP_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RateLimit:
    """At most ``per_second`` requests to one provider in any one-second window, across every process."""

    def __init__(self, redis: aioredis.Redis, prefix: str, per_second: int) -> None:
        self._script = redis.register_script(_RATE_SCRIPT)
        self._prefix = prefix
        self.per_second = per_second
        self._turns: dict[str, asyncio.Lock] = {}

    async def wait(self, provider: str) -> float:
        """Wait for this request's turn; returns when it starts, in Redis's Unix seconds."""
        key = f"{self._prefix}:api-rate:{provider}"
        # A round holds seconds' worth of requests (hundreds at a high rate): in this process they reserve their
        # turns one at a time, first come first served, on one connection, where all at once took more
        # connections than the pool has.
        async with self._turns.setdefault(provider, asyncio.Lock()):
            at, delay = await self._script(keys=[key], args=[self.per_second, secrets.token_hex(8)])
        if float(delay) > 0:
            await asyncio.sleep(float(delay))
        return float(at)


class RedisTokens:
    """Bearer tokens in Redis, sealed with ``PAYHOOK_ENCRYPTION_KEYS`` when it is set, for every process."""

    def __init__(self, redis: aioredis.Redis, prefix: str, sealer: Sealer) -> None:
        self._redis, self._prefix, self._sealer = redis, prefix, sealer
        self._drop = redis.register_script(_DROP_SCRIPT)
        # What this process last read or wrote, by name: a drop removes only that very value.
        self._stored: dict[str, bytes] = {}

    def _key(self, name: str) -> str:
        """The token's key. A name holds a plain digest of the credentials (``token_name``): keyed again when
        sealing is on, so that listing Redis's keys gives no digest of a secret to try guesses against."""
        key = self._sealer.fingerprint_key
        if key is not None:
            name = hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{self._prefix}:api-token:{name}"

    async def get(self, name: str) -> str | None:
        try:
            stored = await self._redis.get(self._key(name))
        except RedisError:
            return None  # a token costs one more request, never a failed query
        if not isinstance(stored, bytes):
            return None
        self._stored[name] = stored
        return self._sealer.open(stored).decode()

    async def put(self, name: str, token: str, seconds: float) -> None:
        stored = self._sealer.seal(token.encode())
        self._stored[name] = stored
        with contextlib.suppress(RedisError):
            await self._redis.set(self._key(name), stored, px=max(int(seconds * 1000), 1))

    async def drop(self, name: str, token: str) -> None:
        stored = self._stored.pop(name, None)
        if stored is not None:
            with contextlib.suppress(RedisError):
                await self._drop(keys=[self._key(name)], args=[stored])


@dataclass
class HttpTransport:
    """One provider's requests: within its rate, limited in time and size, timed; never raises."""

    http: aiohttp.ClientSession
    limit: RateLimit
    provider: str
    timeout: float
    observe: Callable[[str, float], None]

    async def __call__(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> Reply | Answer:
        await self.limit.wait(self.provider)
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(self._send(method, url, headers, body), self.timeout)
        except TimeoutError:
            return Answer.unavailable(f"no answer within {self.timeout:g} s")
        except aiohttp.ClientError as exc:  # refused, reset, DNS: the type says enough; messages may hold URLs
            return Answer.unavailable(f"no answer: {type(exc).__name__}")
        finally:
            self.observe(self.provider, time.perf_counter() - started)

    async def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Reply | Answer:
        async with self.http.request(method, url, headers=dict(headers), data=body, allow_redirects=False) as got:
            payload = bytearray()
            async for chunk in got.content.iter_chunked(65536):
                payload += chunk
                if len(payload) > MAX_REPLY_BYTES:
                    return Answer.unavailable(f"HTTP {got.status}: an answer over {MAX_REPLY_BYTES} bytes")
            return Reply(got.status, dict(got.headers), bytes(payload))


@dataclass
class ApiRuntime:
    """Status clients of one process (an async context: opens its HTTP session and Redis connection)."""

    redis_url: str
    prefix: str
    sealer: Sealer
    rate: int
    timeout: float
    observe: Callable[[str, float], None] = lambda provider, seconds: None
    clock: Callable[[], float] = time.time
    _http: aiohttp.ClientSession | None = None
    _redis: aioredis.Redis | None = None
    _clients: dict[tuple[str, str], Client | None] = field(default_factory=dict)

    async def __aenter__(self) -> ApiRuntime:
        # A round's queries read their tokens at once: they wait for one of a few connections, where the default
        # pool refuses the request past its size (a token read that fails costs a token request).
        pool = aioredis.BlockingConnectionPool.from_url(
            self.redis_url, max_connections=REDIS_CONNECTIONS, timeout=5.0, socket_connect_timeout=2.0,
            socket_timeout=5.0,
        )  # fmt: skip
        self._redis = aioredis.Redis(connection_pool=pool)
        connector = aiohttp.TCPConnector(limit=64, ttl_dns_cache=60)
        self._http = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), headers={"User-Agent": "payhook"}
        )
        self.limit = RateLimit(self._redis, self.prefix, self.rate)
        self.tokens = RedisTokens(self._redis, self.prefix, self.sealer)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.close()
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)

    def context(self, provider: str) -> ApiContext:
        if self._http is None:
            raise RuntimeError("ApiRuntime is used outside its async context")
        send = HttpTransport(self._http, self.limit, provider, self.timeout, self.observe)
        return ApiContext(send=send, tokens=self.tokens, clock=self.clock)

    def forget_clients(self) -> None:
        """Accounts changed: clients are built again from their new settings."""
        self._clients.clear()

    def client(self, provider: Provider, environ: Mapping[str, str], account: str = "default") -> Client | None:
        """The provider's client for the credentials in ``environ`` (None: not configured), built once."""
        key = (provider.name, account)
        if key not in self._clients:
            api = provider.status_api
            self._clients[key] = None if api is None else api.configure(environ, self.context(provider.name))
        return self._clients[key]
