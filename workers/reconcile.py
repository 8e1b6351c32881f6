"""The reconcile loop: one ``payhook.reconcile`` task, in one worker process, for at most the drain budget.

Each round claims, for every provider whose status API is configured, about two seconds' worth of due payments
(its rate), asks about them concurrently (every request waits for its provider's turn, across all workers),
and settles the answers in one transaction: applied like callbacks, each query recorded, the next one planned.
The loop runs on a queue of its own: a provider's API that is down or slow holds neither drains nor deliveries.
It also reads, once a day, each provider's daily report of what the provider never notifies (refunds,
say) and puts every payment it lists first in line. It holds the reconcile doorbell while it runs: the
tick rings it when a query is due or a report is unread, a drain when a callback waits for confirmation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date

from shared.accounts import Environs
from shared.db import accounts as accounts_table
from shared.db import checks
from shared.db.apply import Policy
from shared.db.checks import Due
from shared.env import SettingsError
from shared.providers import Provider
from shared.queue import DEFAULT_ACCOUNT, route
from shared.reconcile.engine import Checked, ask, settle
from shared.reconcile.runtime import ApiRuntime
from shared.status_api import Answer
from workers import metrics
from workers.context import STOPPING, WorkerContext

log = logging.getLogger(__name__)
# Each claim holds this many seconds of a provider's rate: the limiter, not the loop, sets the pace.
CLAIM_SECONDS = 2
REPORT_RETRY_SECONDS = 300


def report_keys(prefix: str, provider: str, day: date) -> tuple[str, str]:
    """Redis keys: the day's report was read; a read failed lately (wait before the next try)."""
    return f"{prefix}:report-read:{provider}:{day}", f"{prefix}:report-retry:{provider}"


def report_unread(ctx: WorkerContext, providers: Mapping[str, Provider], now: float) -> bool:
    """Whether a provider's latest daily report is still to be read for its default account (the tick then rings
    the loop; the loop reads every account's)."""
    for provider in providers.values():
        api = provider.status_api
        day = None if api is None or api.report_day is None else api.report_day(now)
        if day is not None and not ctx.redis.exists(*report_keys(ctx.keys.prefix, provider.name, day)):
            return True
    return False


class ReconcileLoop:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.report: Counter[str] = Counter()
        # Requests per query at most (a token, a session, its refunds) and their time limit, plus the wait.
        self.lease = CLAIM_SECONDS + 3 * self.settings.provider_api_timeout_seconds + 30
        self._environs = Environs.of_accounts({}, [])
        self._seen: bytes | None = None

    def run(self) -> Counter[str]:
        bell = self.ctx.doorbell.for_reconcile()
        try:
            asyncio.run(self._run(bell.hold))
        finally:
            bell.release(0)
        return self.report

    def environs(self) -> tuple[Environs, bytes | None]:
        """Each account's credentials, and the accounts' version they are of: read at every run, and again
        within a round of any change (accounts change while payhook runs)."""
        version = self._version()
        with self.ctx.sessions.begin() as session:
            stored = accounts_table.load(session, self.ctx.sealer)
        return Environs.of_accounts(self.settings.environ, stored), version

    def _version(self) -> bytes | None:
        found = self.ctx.redis.get(self.ctx.keys.accounts_version)
        return found if isinstance(found, bytes) else None

    async def _run(self, hold: Callable[[int], None]) -> None:
        self._environs, self._seen = await asyncio.to_thread(self.environs)
        # The providers' sweeps share the accounts: one of them reads them again when they change.
        self._reloading = asyncio.Lock()
        providers = self._environs.queried()
        if not providers:
            return
        runtime = ApiRuntime(
            self.settings.redis_url,
            self.settings.queue_prefix,
            self.ctx.sealer,
            rate=self.settings.provider_api_rate,
            timeout=self.settings.provider_api_timeout_seconds,
            observe=metrics.observe_api,
        )
        deadline = time.monotonic() + self.settings.drain_budget_seconds
        async with runtime:
            for provider in providers.values():
                for account in [DEFAULT_ACCOUNT, *sorted(a for p, a in self._environs.stored if p == provider.name)]:
                    await self._read_report(runtime, provider, self._environs, account)
            # Each provider at its own pace: one whose queries take more requests (tokens, refunds) or whose API
            # is slow holds none of the others back.
            await asyncio.gather(*(self._sweep(runtime, name, hold, deadline) for name in providers))

    async def _sweep(self, runtime: ApiRuntime, name: str, hold: Callable[[int], None], deadline: float) -> None:
        """One provider's due payments, a batch at a time, until none is due or the budget is spent. The next
        batch is claimed as soon as this one is being asked about, its requests queued behind this one's, and a
        batch's answers are settled while the next is asked about: the rate, not the round, sets the pace
        (a batch at a time left the provider's API idle for a third of the time)."""
        asking: tuple[list[Due], asyncio.Task[list[Answer]]] | None = None
        settling: asyncio.Task[None] | None = None
        try:
            while True:
                following = None
                if time.monotonic() < deadline and not STOPPING.is_set():
                    hold(0)
                    following = await self._next(runtime, name)
                if asking is not None:
                    answers = await asking[1]
                    if settling is not None:
                        await settling
                    settling = asyncio.create_task(self._settled(list(zip(asking[0], answers, strict=True))))
                asking = following
                if asking is None:
                    return
        finally:
            if asking is not None and not asking[1].done():
                asking[1].cancel()  # an error stopped the sweep: its payments are asked about when the lease ends
            if settling is not None:
                await settling

    async def _next(self, runtime: ApiRuntime, name: str) -> tuple[list[Due], asyncio.Task[list[Answer]]] | None:
        """The provider's next batch, being asked about (None: nothing due, or the provider no longer queried)."""
        await self._refresh(runtime)
        if name not in self._environs.queried():
            return None
        due = await asyncio.to_thread(self._claim, name)
        return (due, asyncio.create_task(ask(runtime, self._environs, due))) if due else None

    async def _refresh(self, runtime: ApiRuntime) -> None:
        """The accounts again, with new clients, when they changed since they were read."""
        async with self._reloading:
            if await asyncio.to_thread(self._version) != self._seen:
                self._environs, self._seen = await asyncio.to_thread(self.environs)
                runtime.forget_clients()

    async def _settled(self, answered: list[tuple[Due, Answer]]) -> None:
        done = await asyncio.to_thread(self._settle, answered)
        self.report.update(str(c.result) for c in done)
        metrics.observe_checks((c.provider, str(c.result)) for c in done)

    async def _read_report(self, runtime: ApiRuntime, provider: Provider, environs: Environs, account: str) -> None:
        """Yesterday's report of what the provider never notifies, read once per account: every payment it lists
        is asked about now. A report that cannot be read is tried again in a few minutes."""
        api, environ = provider.status_api, environs.environ(provider, account)
        try:
            client = None if environ is None else runtime.client(provider, environ, account)
        except SettingsError as exc:  # this account's report only; its payments' answers say why too
            log.error("the report of %s's account %s is not read: %s", provider.name, account, exc)
            return
        if api is None or api.report_day is None or client is None or client.report is None:
            return
        day = api.report_day(time.time())
        keys = report_keys(self.ctx.keys.prefix, route(provider.name, account), day)
        if self.ctx.redis.exists(*keys):
            return
        listed = await client.report.refunded_on(day)
        if listed is None:
            self.ctx.redis.set(keys[1], b"1", ex=REPORT_RETRY_SECONDS)
            return
        with self.ctx.sessions.begin() as session:
            checks.ask_now(session, provider.name, listed, "report", account)
        self.ctx.redis.set(keys[0], b"1", ex=3 * 86400)
        if listed:
            self.report["listed in a report"] += len(listed)

    def _claim(self, provider: str) -> list[Due]:
        limit = self.settings.provider_api_rate * CLAIM_SECONDS
        with self.ctx.sessions.begin() as session:
            return checks.claim_due(session, provider, limit, self.lease)

    def _settle(self, answered: list[tuple[Due, Answer]]) -> list[Checked]:
        policy = Policy(self.settings.reconcile_schedule)
        done: list[Checked] = []
        for reason in {due.reason for due, _ in answered}:
            group = [(due, answer) for due, answer in answered if due.reason == reason]
            with self.ctx.sessions.begin() as session:
                done += settle(session, group, reason=reason, sealer=self.ctx.sealer, policy=policy)
        return done
