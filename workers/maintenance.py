"""The periodic tick's work: move the spool into the stream, ring a lost doorbell, trim what was
acknowledged, forget dead consumers, sample the backlog for the console's charts. Every worker runs it each
second (``workers.app``); beat is a backstop."""

from __future__ import annotations

import logging
import time

from redis import Redis

from shared import liveness
from shared.backlog import group_info, queue_stats, queue_stats_if_reachable, text
from shared.db import checks, figures, spool
from shared.db import dead_letters as dlq
from shared.doorbell import Doorbell
from shared.providers import all_providers, queried
from shared.queue import MOVE_SCRIPT, QueueKeys, move_args, move_keys
from workers.context import WorkerContext
from workers.delivery import store as deliveries
from workers.drain import ensure_group
from workers.reconcile import report_unread

log = logging.getLogger(__name__)
SPOOL_BATCH = 500
PRUNE_EVERY_SECONDS = 60.0
JOBS_EVERY_SECONDS = 10.0
FIGURES_EVERY_SECONDS = 60.0
_last_prune = 0.0
_last_jobs = 0.0
_last_figures = 0.0


def tick(ctx: WorkerContext) -> None:
    """One round of upkeep; a failing step is logged (by its type) and left for the next round, and never
    keeps the others from running."""
    claim_ms = int(ctx.settings.claim_timeout_seconds * 1000)
    for step in (
        lambda: ensure_group(ctx),
        lambda: move_spool(ctx),
        lambda: ring_if_needed(ctx.doorbell, claim_ms),
        lambda: trim(ctx.redis, ctx.keys),
        lambda: forget_idle_consumers(ctx.redis, ctx.keys, idle_ms=2 * claim_ms),
        lambda: deliveries_due(ctx) and ctx.doorbell.ring_deliveries(),
        lambda: reconcile_due(ctx) and ctx.doorbell.ring_reconcile(),
        lambda: prune_outbox(ctx),
        lambda: resume_jobs(ctx),
        lambda: record_figures(ctx),
    ):
        try:
            step()
        except Exception as exc:
            log.warning("tick step failed: %s", type(exc).__name__)


def move_spool(ctx: WorkerContext, max_batches: int = 10) -> int:
    """Move spooled callbacks into the stream, oldest first, each exactly once, and delete them from the
    spool; at most ``max_batches`` batches per call (the next tick goes on)."""
    moved = 0
    script = ctx.redis.register_script(MOVE_SCRIPT)
    keys = move_keys(ctx.keys)
    for _ in range(max_batches):
        with ctx.sessions.begin() as session:
            rows = spool.take_oldest(session, SPOOL_BATCH)
            if not rows:
                break
            spooled = [(row.id, spool.as_queued(row, ctx.sealer)) for row in rows]
            # An id appended before (by a mover whose delete then failed) is skipped by the script.
            count, rang = script(keys=keys, args=move_args(spooled))
            spool.remove(session, [row.id for row in rows])
        # The rows are gone: their ids need not be remembered (if this fails, they stay, harmlessly).
        ctx.redis.srem(ctx.keys.spool_moved, *[row.id for row in rows])
        if count:
            log.info(
                "moved %d spooled callbacks into the stream (spool-%d to spool-%d)", count, rows[0].id, rows[-1].id
            )
        moved += int(count)
        if rang:
            ctx.doorbell.ring(0)
    return moved


def needs_drain(redis: Redis, keys: QueueKeys, claim_timeout_ms: int) -> bool:
    """True when entries wait undelivered, or a crashed consumer left entries behind."""
    stats = queue_stats(redis, keys)
    if stats.queued:
        return True
    stuck = redis.xpending_range(keys.stream, keys.group, "-", "+", 1, idle=claim_timeout_ms) if stats.in_flight else []
    return bool(stuck)


def ring_if_needed(doorbell: Doorbell, claim_timeout_ms: int) -> bool:
    """Take doorbell 0 when work waits and no drain holds it, and ring it."""
    if not needs_drain(doorbell.redis, doorbell.keys, claim_timeout_ms) or not doorbell.take(0):
        return False
    return doorbell.ring(0)


def deliveries_due(ctx: WorkerContext) -> bool:
    """Whether a delivery is due (a retry whose time came, a lease that ran out, an endpoint enabled again): the
    tick then rings a delivery loop."""
    with ctx.sessions.begin() as session:
        return deliveries.any_due(session)


def reconcile_due(ctx: WorkerContext) -> bool:
    """Whether a status query is due, or a provider's daily report unread: the tick then rings the reconcile
    loop (unless it runs)."""
    # Every provider with a status API: one whose credentials are an account's only is asked about too.
    providers = {name: p for name, p in all_providers().items() if p.status_api is not None}
    if report_unread(ctx, queried(ctx.settings.environ), time.time()):
        return True
    with ctx.sessions.begin() as session:
        return checks.any_due(session, list(providers))


def prune_outbox(ctx: WorkerContext, *, force: bool = False) -> int:
    """Once a minute per worker: delete events delivered to every consumer and older than the retention."""
    global _last_prune  # noqa: PLW0603 - a per-process pace
    if not force and time.monotonic() - _last_prune < PRUNE_EVERY_SECONDS:
        return 0
    _last_prune = time.monotonic()
    with ctx.sessions.begin() as session:
        return deliveries.prune(session, ctx.settings.outbox_retention_seconds)


def resume_jobs(ctx: WorkerContext) -> list[int]:
    """Every ten seconds per worker: send again the bulk jobs nobody runs (a lost message, a dead runner)."""
    global _last_jobs  # noqa: PLW0603 - a per-process pace
    if time.monotonic() - _last_jobs < JOBS_EVERY_SECONDS:
        return []
    _last_jobs = time.monotonic()
    stale = ctx.operator_service.runner.stale()
    for job_id in stale:
        ctx.operator_service.send_job(job_id)
    return stale


def record_figures(ctx: WorkerContext, *, force: bool = False) -> bool:
    """Once a minute per worker: sample the backlog (queued and in flight, spooled, dead letters waiting) for
    the console's chart, and prune figures older than three days. Several workers sampling one minute keep
    the largest sample."""
    global _last_figures  # noqa: PLW0603 - a per-process pace
    if not force and time.monotonic() - _last_figures < FIGURES_EVERY_SECONDS:
        return False
    _last_figures = time.monotonic()
    stats = queue_stats_if_reachable(ctx.redis, ctx.keys)
    with ctx.sessions.begin() as session:
        backlog = {figures.SPOOLED: spool.count(session), figures.WAITING_LETTERS: dlq.count_waiting(session)}
        if stats is not None:  # Redis away: the spool's sample still shows what the receiver holds
            backlog[figures.QUEUED] = stats.queued + stats.in_flight
        figures.sample(session, backlog)
        figures.prune(session)
    return True


def heartbeat(ctx: WorkerContext) -> None:
    """Stamp this worker as alive (the console's "workers alive"); called by the worker's own tick thread only,
    so that a pool process running beat's backstop tick is not counted as a worker."""
    liveness.stamp(ctx.redis, ctx.keys, ctx.consumer)


def trim(redis: Redis, keys: QueueKeys) -> None:
    """Drop acknowledged entries: everything older than the oldest entry still pending or undelivered."""
    group = group_info(redis, keys)
    if group is None:
        return
    summary = redis.xpending(keys.stream, keys.group)
    if summary["pending"]:
        keep_from = text(summary["min"])
    else:
        ms, _, seq = text(group["last-delivered-id"]).partition("-")
        keep_from = f"{ms}-{int(seq or 0) + 1}"
    redis.xtrim(keys.stream, minid=keep_from, approximate=True)


# Deleting a consumer drops its pending entries, so the check and the delete must be one atomic step: a
# consumer that reads between them would otherwise lose what it just read.
_FORGET_IF_EMPTY = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


def forget_idle_consumers(redis: Redis, keys: QueueKeys, idle_ms: int) -> None:
    """Consumers with nothing pending and idle for ``idle_ms`` are removed from the group: a live one is made
    again by its next read, one of a process long gone would pile up, one per restart."""
    if group_info(redis, keys) is None:
        return
    for consumer in redis.xinfo_consumers(keys.stream, keys.group):
        if int(consumer["pending"]) == 0 and int(consumer["idle"]) > idle_ms:
            forget_consumer(redis, keys, text(consumer["name"]))


def forget_consumer(redis: Redis, keys: QueueKeys, name: str) -> None:
    """Remove ``name`` from the group if, at that very moment, it holds nothing pending."""
    redis.register_script(_FORGET_IF_EMPTY)(keys=[keys.stream], args=[keys.group, name])
