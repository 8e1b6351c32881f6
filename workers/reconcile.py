"""The reconcile loop: one ``payhook.reconcile`` task, in one worker process, for at most the drain budget.

Each round claims, for every provider whose status API is configured, about two seconds' worth of due payments
(its rate), asks about them concurrently (every request waits for its provider's turn, across all workers),
and settles the answers in one transaction: applied like callbacks, each query recorded, the next one planned.
The loop runs on a queue of its own: a provider's API that is down or slow holds neither drains nor deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping

from shared.db import checks
from shared.db.apply import Policy
from shared.db.checks import Due
from shared.providers import Provider
from shared.reconcile.engine import Checked, ask, settle
from shared.reconcile.runtime import ApiRuntime
from shared.status_api import Answer
from workers import metrics
from workers.context import STOPPING, WorkerContext

log = logging.getLogger(__name__)
# Each claim holds this many seconds of a provider's rate: the limiter, not the loop, sets the pace.
CLAIM_SECONDS = 2


class ReconcileLoop:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.report: Counter[str] = Counter()
        # Requests per query at most (a token, a session, its refunds) and their time limit, plus the wait.
        self.lease = CLAIM_SECONDS + 3 * self.settings.provider_api_timeout_seconds + 30

    def run(self) -> Counter[str]:
        asyncio.run(self._run())
        return self.report

    def queried(self) -> dict[str, Provider]:
        """The providers whose status API has credentials here."""
        environ = self.settings.environ
        return {
            name: provider
            for name, provider in self.ctx.providers.items()
            if provider.status_api is not None and provider.status_api.configured(environ)
        }

    async def _run(self) -> None:
        providers = self.queried()
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
            while time.monotonic() < deadline and not STOPPING.is_set():
                due = await asyncio.to_thread(self._claim, providers)
                if not due:
                    return
                answers = await ask(runtime, providers, self.settings.environ, due)
                done = await asyncio.to_thread(self._settle, list(zip(due, answers, strict=True)))
                self.report.update(str(c.result) for c in done)
                metrics.observe_checks((c.provider, str(c.result)) for c in done)

    def _claim(self, providers: Mapping[str, Provider]) -> list[Due]:
        limit = self.settings.provider_api_rate * CLAIM_SECONDS
        with self.ctx.sessions.begin() as session:
            return [due for name in providers for due in checks.claim_due(session, name, limit, self.lease)]

    def _settle(self, answered: list[tuple[Due, Answer]]) -> list[Checked]:
        policy = Policy(self.settings.reconcile_schedule)
        done: list[Checked] = []
        for reason in {due.reason for due, _ in answered}:
            group = [(due, answer) for due, answer in answered if due.reason == reason]
            with self.ctx.sessions.begin() as session:
                done += settle(session, group, reason=reason, sealer=self.ctx.sealer, policy=policy)
        return done
