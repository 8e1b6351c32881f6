"""Coalescing the Redis writes of concurrent requests into one round trip.

Every request still waits for its own confirmation: its future resolves only after Redis has executed the
append script that holds it. While one script call is in flight, newly arrived callbacks gather and go in
the next one, so under load each round trip carries as many callbacks as arrived during the previous one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.doorbell import Doorbell
from shared.queue import APPEND_SCRIPT, QueuedCallback, append_keys, script_args

log = logging.getLogger(__name__)
# Bounds one script call (and so how long Redis is busy with it); the rest go in the next call.
MAX_BATCH = 256
BROKEN_SECONDS = 1.0


class Appender:
    def __init__(
        self, redis: Redis, doorbell: Doorbell, observe: Callable[[float, int], None], timeout: float = 0.25
    ) -> None:
        self._redis = redis
        self._timeout = timeout
        # After a failed or timed-out append, Redis is given up on for a moment: callbacks go straight to the
        # spool instead of each waiting for its own timeout.
        self._broken_until = 0.0
        self._script = redis.register_script(APPEND_SCRIPT)
        self._keys = append_keys(doorbell.keys)
        self._doorbell = doorbell
        self._observe = observe
        self._pending: list[tuple[QueuedCallback, asyncio.Future[bytes]]] = []
        self._flushing = False
        # Redis near its maxmemory: appends stop before workers and Celery lose the room they need.
        self.full = False

    @property
    def available(self) -> bool:
        """False while Redis is above its high-water mark, or just failed: callbacks go to the spool."""
        if self.full:
            return False
        # Mostly 0.0 (never broken, or forgotten once over): no clock read per callback.
        if self._broken_until:
            if asyncio.get_running_loop().time() < self._broken_until:
                return False
            self._broken_until = 0.0
        return True

    def append(self, callback: QueuedCallback) -> asyncio.Future[bytes]:
        """A future of the callback's stream entry id, set once Redis holds it (or an error)."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((callback, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._send(batch)
        finally:
            self._flushing = False

    async def _send(self, batch: list[tuple[QueuedCallback, asyncio.Future[bytes]]]) -> None:
        # A request that gave up waiting (and went to the spool) is not appended as well.
        batch = [(callback, future) for callback, future in batch if not future.done()]
        if not batch:
            return
        args = script_args([callback for callback, _ in batch])
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(self._script(keys=self._keys, args=args), self._timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._broken_until = asyncio.get_running_loop().time() + BROKEN_SECONDS
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._observe(time.perf_counter() - started, len(batch))
        for (_, future), entry_id in zip(batch, result, strict=False):
            if not future.done():
                future.set_result(entry_id)
        if result[-1]:
            # Publishing blocks on the broker: off the event loop.
            asyncio.get_running_loop().run_in_executor(None, self._doorbell.ring, 0)

    async def watch_memory(self, high_water: float, every: float = 0.5) -> None:
        """Keep ``full`` true while Redis uses more than ``high_water`` of its ``maxmemory`` (never, without one)."""
        while True:
            try:
                info = await self._redis.info("memory")
                limit = int(info.get("maxmemory", 0))
                self.full = bool(limit) and int(info["used_memory"]) >= high_water * limit
            except (RedisError, OSError, KeyError, ValueError):
                pass  # an unreachable Redis shows in the appends themselves
            await asyncio.sleep(every)
