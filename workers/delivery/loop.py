"""The delivery loop: one ``payhook.deliver`` task, in one worker process, for at most the drain budget.

It holds its slot's delivery doorbell (``shared.doorbell``) while it runs: committed batches that made
deliveries take doorbell 0 and ring only when it is free. The loop claims due deliveries whenever it has room,
sends them concurrently (asyncio; a slow endpoint holds only its own attempts, bounded per endpoint), and
records results in small groups as they come in. A claim that fills the loop calls the next slot for help.
Idle for a moment, it releases the doorbell, looks once more (closing the race with a batch that found the
doorbell still taken), and ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
from sqlalchemy.exc import IntegrityError

from shared import addresses
from shared.doorbell import Doorbell
from workers import metrics
from workers.context import STOPPING, WorkerContext
from workers.delivery import handlers as handler_registry
from workers.delivery import store
from workers.delivery.send import Handler, Sender
from workers.retry import retrying

log = logging.getLogger(__name__)
T = TypeVar("T")

CAPACITY = 256
HANDLER_THREADS = 16
# Record (and claim again) once this many attempts came back, or every FLUSH_SECONDS, or when none is in flight.
FLUSH_EVERY = 32
FLUSH_SECONDS = 0.05
POLL_SECONDS = 0.05
IDLE_SECONDS = 0.5
HOLD_SECONDS = 1.0


class DeliveryLoop:
    def __init__(self, ctx: WorkerContext, handlers: Mapping[str, Callable[[], Handler]] | None = None) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.bell: Doorbell = ctx.doorbell.for_deliveries()
        self.handlers = handler_registry.installed() if handlers is None else handlers
        self.lease = self.settings.delivery_connect_timeout_seconds + self.settings.delivery_timeout_seconds + 5
        self.report: Counter[str] = Counter()
        self._running: set[asyncio.Task[store.Result]] = set()
        self._results: list[store.Result] = []
        self._idle_since = self._last_flush = self._last_claim = 0.0

    def run(self, slot: int = 0) -> Counter[str]:
        asyncio.run(self._run(slot))
        return self.report

    async def _run(self, slot: int) -> None:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.delivery_connect_timeout_seconds + self.settings.delivery_timeout_seconds,
            sock_connect=self.settings.delivery_connect_timeout_seconds,
            sock_read=self.settings.delivery_timeout_seconds,
        )
        # Unless private endpoints are allowed, every connection's address is checked as its socket is made:
        # after resolution, on the very address connected to (``shared.addresses``).
        guard = None if self.settings.endpoint_allow_private else addresses.guarded_socket
        connector = aiohttp.TCPConnector(limit=CAPACITY, ttl_dns_cache=60, socket_factory=guard)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
        ) as http:
            # Handlers run in a pool of their own: a slow one never holds up the loop's database calls, and a
            # hung one is left behind when the loop ends instead of holding the process.
            with ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="payhook-handler") as handlers:
                sender = Sender(
                    http,
                    self.handlers,
                    allowed_hosts=self.settings.endpoint_allowed_hosts,
                    timeout_seconds=self.settings.delivery_timeout_seconds,
                    executor=handlers,
                )
                try:
                    await self._loop(slot, sender)
                finally:
                    handlers.shutdown(wait=False, cancel_futures=True)

    async def _loop(self, slot: int, sender: Sender) -> None:
        deadline = time.monotonic() + self.settings.drain_budget_seconds
        self._idle_since = self._last_flush = time.monotonic()
        held = self._last_claim = 0.0
        while True:
            now = time.monotonic()
            if now - held >= HOLD_SECONDS:
                await self._db(self.bell.hold, slot)
                held = now
            closing = now >= deadline or STOPPING.is_set()
            claimed = await self._exchange(slot, sender, now, closing)
            if self._running:
                await self._collect()
            elif not self._results:
                if closing:
                    if not STOPPING.is_set():
                        self.bell.ring(slot)  # handed over to a fresh task, keeping the doorbell
                    return
                if now - self._idle_since >= IDLE_SECONDS:
                    if not await self._db(self._release_and_look, slot):
                        return
                    self._idle_since = time.monotonic()
                elif not claimed:
                    await asyncio.sleep(POLL_SECONDS)

    async def _exchange(self, slot: int, sender: Sender, now: float, closing: bool) -> bool:
        """Record what came back and claim more, in one transaction, when either is due; whether it claimed."""
        room = CAPACITY - len(self._running)
        flush = bool(self._results) and (
            len(self._results) >= FLUSH_EVERY or now - self._last_flush >= FLUSH_SECONDS or not self._running
        )
        # Results recorded make room at their endpoints: claim with every record, else at most every POLL.
        claim = not closing and room > 0 and (flush or not self._running or now - self._last_claim >= POLL_SECONDS)
        if not claim and not flush:
            return False
        claims = await self._db(self._record_and_claim, room if claim else 0)
        if flush:
            self._last_flush = now
        if claim:
            self._last_claim = now
        for claimed in claims:
            self._running.add(asyncio.create_task(sender.attempt(claimed)))
        if claims:
            self._idle_since = now
        if claim and len(claims) == room:
            await self._db(self._call_for_help, slot)
        return bool(claims)

    async def _collect(self) -> None:
        done, _ = await asyncio.wait(self._running, timeout=FLUSH_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            self._running.discard(task)
            self._results.append(task.result())

    # -- database and Redis, in a thread (the loop must keep serving the attempts in flight) ----------------

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(retrying(self.ctx.settings), fn, *args)

    def _record_and_claim(self, room: int) -> list[store.Claim]:
        """Record the results in hand and claim up to ``room`` more, in one transaction. If it fails, the
        results stay in hand for the retry (and the claim never happened)."""
        results, self._results = self._results, []
        try:
            with self.ctx.sessions.begin() as session:
                store.relaxed_commit(session)
                recorded = store.record(session, results, self.settings.delivery_retry_schedule)
                claims = store.claim(
                    session,
                    self.ctx.sealer,
                    limit=room,
                    per_endpoint=self.settings.delivery_concurrency,
                    lease_seconds=self.lease,
                )
        except IntegrityError:
            # A delivery removed (its endpoint removed) in the instant between the insert's join and its
            # foreign-key check: drop these results; the live ones among them are sent again after their lease.
            log.warning("dropped %d delivery results whose deliveries went away", len(results))
            return []
        except Exception:
            self._results = results + self._results
            raise
        self.report.update(recorded.results)
        metrics.observe_deliveries(recorded.results, recorded.lags, [r.duration_ms / 1000 for r in results])
        return claims

    def _call_for_help(self, slot: int) -> None:
        helper = slot + 1
        if helper < self.settings.max_delivery_loops and self.bell.take(helper):
            self.bell.ring(helper)

    def _release_and_look(self, slot: int) -> bool:
        """Release the doorbell; True when there is work after all (and the doorbell is ours again)."""
        self.bell.release(slot)
        if slot != 0:
            return False
        with self.ctx.sessions.begin() as session:
            due = store.any_due(session)
        return due and self.bell.take(slot)
