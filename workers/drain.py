"""Draining the callback stream through the consumer group.

A drain runs in one worker process for at most ``drain_budget_seconds``. It holds its slot's doorbell
(``shared.doorbell``), reads batches with ``XREADGROUP``, commits each batch to PostgreSQL and only then
acknowledges it. A full batch rings the next slot's doorbell, up to ``max_drains``.
Entries idle in another consumer for longer than the claim timeout belonged to a crashed worker: they are
claimed and processed one at a time, and an entry delivered ``max_deliveries`` times is dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import redis.exceptions
from tenacity import RetryCallState

from shared.backlog import group_info, text
from shared.db import dead_letters as dlq
from shared.db.apply import Policy
from shared.queue import QueuedCallback
from workers import metrics
from workers.context import STOPPING, WorkerContext
from workers.pipeline import Entry, Prepared, Report, commit, prepare
from workers.retry import retrying

log = logging.getLogger(__name__)
T = TypeVar("T")
READ_BLOCK_MS = 20


class Drain:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.keys = ctx.keys
        self.redis = ctx.redis
        self.doorbell = ctx.doorbell
        self._claim_ms = int(self.settings.claim_timeout_seconds * 1000)
        self._held_ids: list[str] = []
        self._slot = 0
        # Each account's own ``verify`` says whether its callbacks wait for the status API's confirmation.
        self._environs = ctx.account_environs()
        self._schedule = self.settings.reconcile_schedule

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self, slot: int) -> Report:
        self._slot = slot
        report = Report()
        deadline = time.monotonic() + self.settings.drain_budget_seconds
        next_reclaim = 0.0
        self._retry(ensure_group, self.ctx)
        while True:
            self._retry(self._hold)
            if time.monotonic() >= next_reclaim:
                report.add(self._reclaim())
                next_reclaim = time.monotonic() + self.settings.claim_timeout_seconds / 3
            entries = self._retry(self._read, READ_BLOCK_MS)
            if not entries:
                entries = self._retry(self._release)
                if not entries:
                    return report
            elif len(entries) >= self.settings.batch_size:
                self._retry(self._call_for_help)
            report.add(self._process(entries))
            if (time.monotonic() >= deadline or STOPPING.is_set()) and self.doorbell.ring(slot):
                # Handed over to a fresh task (keeping the doorbell) so this process can serve other messages,
                # or, when it is shutting down, so that another worker goes on at once. A ring that fails (a
                # Redis at its maxmemory refuses the message) keeps this drain going: it frees the memory.
                return report

    def _read(self, block_ms: int | None) -> list[Entry]:
        try:
            response = self.redis.xreadgroup(
                self.keys.group,
                self.ctx.consumer,
                {self.keys.stream: ">"},
                count=self.settings.batch_size,
                block=block_ms,
            )
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the group (a restart without persistence): recreate it and read again.
            ensure_group(self.ctx)
            return []
        if not response:
            return []
        _stream, entries = cast(Any, response)[0]
        return [(text(entry_id), fields) for entry_id, fields in entries if fields is not None]

    def _release(self) -> list[Entry]:
        """Release the doorbell. For doorbell 0, read once more after releasing it: a callback appended
        before the release is seen here, one appended after it finds the doorbell free and rings."""
        self.doorbell.release(self._slot)
        if self._slot != 0:
            return []
        return self._read(None)

    def _hold(self) -> None:
        self.doorbell.hold(self._slot)

    def _call_for_help(self) -> None:
        helper = self._slot + 1
        if helper < self.settings.max_drains and self.doorbell.take(helper):
            self.doorbell.ring(helper)

    # -- processing -------------------------------------------------------------------------------------

    def _process(self, entries: list[Entry]) -> Report:
        ids = [entry_id for entry_id, _ in entries]
        self._held_ids = ids
        prepared = prepare(entries, self.ctx.providers, self._environs.confirms)
        started = time.perf_counter()
        report = self._retry(
            commit, self.ctx.sessions, prepared, self.ctx.sealer, Policy(self._schedule), shard=self._slot
        )
        metrics.observe_commit(
            report, [item.callback.received_at for item in prepared.items], time.perf_counter() - started
        )
        self._retry(self._ack, ids)
        self._held_ids = []
        if report.deliveries:
            self.doorbell.ring_deliveries()
        if report.confirmations:
            self.doorbell.ring_reconcile()
        return report

    def _ack(self, ids: Sequence[str]) -> None:
        """Acknowledge and delete, in one round trip: a processed entry frees its memory at once (a Redis at
        its ``maxmemory`` drains), and the stream holds only what waits, so its length counts the backlog. Not
        a MULTI: Redis refuses every command of a transaction while it is out of memory."""
        if ids:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(self.keys.stream, self.keys.group, *ids)
                pipe.xdel(self.keys.stream, *ids)
                pipe.execute()

    def _reclaim(self) -> Report:
        pending: Any = self._retry(
            self.redis.xpending_range,
            self.keys.stream,
            self.keys.group,
            min="-",
            max="+",
            count=self.settings.batch_size,
            idle=self._claim_ms,
        )
        report = Report()
        for info in pending or []:
            entry_id, deliveries = text(info["message_id"]), int(info["times_delivered"])
            # Claimed one at a time, just before its turn: any of these may be the callback that killed its
            # worker, and only an entry actually attempted may count one more delivery.
            claimed = self._retry(self._claim, [entry_id])
            if not claimed:
                continue  # another drain took it, or it was trimmed
            metrics.RECLAIMED.inc()
            if deliveries >= self.settings.max_deliveries:
                report.add(self._dead_letter_poisoned(claimed, deliveries))
            else:
                report.add(self._process(claimed))
        if pending:
            log.warning("reclaimed %d entries of crashed consumers", len(pending))
        return report

    def _claim(self, ids: list[str]) -> list[Entry]:
        claimed: Any = self.redis.xclaim(
            self.keys.stream, self.keys.group, self.ctx.consumer, self._claim_ms, cast(Any, ids)
        )
        return [(text(entry_id), fields) for entry_id, fields in claimed if fields]

    def _dead_letter_poisoned(self, entries: list[Entry], deliveries: int) -> Report:
        rejected = []
        for entry_id, fields in entries:
            callback = QueuedCallback.salvage(entry_id, fields)
            detail = f"delivered {deliveries} times without completing: it stops the worker processing it"
            rejected.append(dlq.Rejected(entry_id, callback, "crashed_worker", detail))
        self._held_ids = [entry_id for entry_id, _ in entries]
        report = self._retry(commit, self.ctx.sessions, Prepared(rejected=rejected), self.ctx.sealer, shard=self._slot)
        metrics.observe_commit(report, [], 0.0)
        self._retry(self._ack, self._held_ids)
        self._held_ids = []
        return report

    # -- retries ----------------------------------------------------------------------------------------

    def _retry(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return retrying(self.settings, before_sleep=self._keep_claims)(fn, *args, **kwargs)

    def _keep_claims(self, state: RetryCallState) -> None:
        """While a transient failure is retried, keep this worker's entries and lease from being reclaimed;
        when the worker is shutting down, hand them back instead."""
        error = state.outcome.exception() if state.outcome else None
        log.warning("transient failure, retry %d: %s", state.attempt_number, type(error).__name__)
        metrics.RETRIES.inc()
        if STOPPING.is_set():
            self._hand_back()
            raise ShuttingDown("the worker is shutting down; its entries are handed back") from error
        try:
            self._hold()
            if self._held_ids:
                self.redis.xclaim(
                    self.keys.stream, self.keys.group, self.ctx.consumer, 0, cast(Any, self._held_ids), justid=True
                )
        except redis.exceptions.RedisError:
            pass  # Redis itself is away: nobody can reclaim anything meanwhile.

    def _hand_back(self) -> None:
        """Make the entries in hand look abandoned (idle for a whole claim timeout), so the next drain of any
        worker reclaims them at once; and ring for one."""
        try:
            if self._held_ids:
                self.redis.xclaim(
                    self.keys.stream,
                    self.keys.group,
                    self.ctx.consumer,
                    0,
                    cast(Any, self._held_ids),
                    idle=self._claim_ms,
                    justid=True,
                )
            self.doorbell.ring(self._slot)
        except redis.exceptions.RedisError:
            pass  # Redis away: the claim timeout hands them over instead.


class ShuttingDown(RuntimeError):
    """A drain gave up retrying because its worker is stopping; its entries were handed back."""


def ensure_group(ctx: WorkerContext) -> None:
    """Create the stream and its consumer group if missing; from id 0, so nothing queued earlier is skipped.
    A Redis at its ``maxmemory`` refuses even that: then the group must be there already."""
    try:
        ctx.redis.xgroup_create(ctx.keys.stream, ctx.keys.group, id="0", mkstream=True)
    except redis.exceptions.OutOfMemoryError:
        if group_info(ctx.redis, ctx.keys) is None:
            raise
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
