"""The console's per-minute figures: the drain counts what it commits (by provider and outcome, dead letters
too) in the batch's transaction; the tick samples the backlog and prunes old minutes; workers stamp that they
are alive."""

from __future__ import annotations

import os
import time

import pytest
from redis import Redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from shared import liveness
from shared.db import figures
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.support.pipeline import drain_all, pivot_event, post, rows, scalar
from workers import maintenance
from workers.context import WorkerContext

pytestmark = pytest.mark.integration


def _counts(engine: Engine) -> dict[tuple[str, str], int]:
    found = rows(engine, "SELECT provider, kind, sum(count) AS n FROM minute_figures GROUP BY provider, kind")
    return {(r.provider, r.kind): int(r.n) for r in found}


def test_the_drain_counts_what_it_committed_by_provider_and_outcome(
    settings: Settings, web: TestClient, engine: Engine
) -> None:
    paid = pivot_event("PAYMENT.PAID", "ps-f1", "order-f1", "PAID")
    post(web, "pivot", paid)
    post(web, "pivot", paid)  # the same event again: a duplicate
    post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "ps-f1", "order-f1", "PROCESSING"))  # stale after paid
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-f2", "order-f2", "PAID"))
    post(web, "pivot", b"{broken")
    drain_all(settings)
    assert _counts(engine) == {
        ("pivot", "applied"): 2,
        ("pivot", "duplicate"): 1,
        ("pivot", "stale"): 1,
        ("pivot", "dead_letter"): 1,
    }
    # One row per (minute, provider, kind) of the drain's slot: the batch wrote one statement's rows.
    assert scalar(engine, "SELECT count(DISTINCT shard) FROM minute_figures") == 1


def test_concurrent_shards_add_up_and_a_retried_batch_is_not_counted_twice(settings: Settings, engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        figures.add(session, {("pivot", "applied"): 3}, shard=0)
        figures.add(session, {("pivot", "applied"): 2, ("midtrans", "conflict"): 1}, shard=1)
    with Session(engine) as session:
        session.begin()
        figures.add(session, {("pivot", "applied"): 100}, shard=0)
        session.rollback()  # a batch whose transaction failed counts nothing
    assert _counts(engine) == {("pivot", "applied"): 5, ("midtrans", "conflict"): 1}


def test_the_tick_samples_the_backlog_and_prunes_old_minutes(
    settings: Settings, web: TestClient, engine: Engine
) -> None:
    for n in range(3):
        post(web, "pivot", pivot_event("PAYMENT.PAID", f"ps-b{n}", f"order-b{n}", "PAID"))
    post(web, "pivot", b"{broken")
    drain_all(settings)
    for n in range(2):
        post(web, "pivot", pivot_event("PAYMENT.PAID", f"ps-c{n}", f"order-c{n}", "PAID"))
    with Session(engine) as session, session.begin():
        session.execute(
            text(
                "INSERT INTO minute_figures VALUES (now() - interval '4 days', '', 'queued', 0, 9),"
                " (now() - interval '2 days', '', 'queued', 0, 7)"
            )
        )
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        assert maintenance.record_figures(ctx, force=True)
    finally:
        ctx.close()
    samples = rows(engine, "SELECT kind, count FROM minute_figures WHERE minute > now() - interval '1 hour'")
    backlog = {r.kind: r.count for r in samples if r.kind in (figures.QUEUED, figures.SPOOLED, figures.WAITING_LETTERS)}
    assert backlog == {figures.QUEUED: 2, figures.SPOOLED: 0, figures.WAITING_LETTERS: 1}
    old = rows(engine, "SELECT count FROM minute_figures WHERE minute < now() - interval '1 hour'")
    assert [r.count for r in old] == [7]  # four days old: pruned; two days old: kept


def test_of_several_samples_in_one_minute_the_largest_is_kept(settings: Settings, engine: Engine) -> None:
    with Session(engine) as session, session.begin():  # one transaction: one now(), one minute
        figures.sample(session, {figures.QUEUED: 5, figures.SPOOLED: 0})
        figures.sample(session, {figures.QUEUED: 2, figures.SPOOLED: 1})
    assert _counts(engine) == {("", figures.QUEUED): 5, ("", figures.SPOOLED): 1}


def test_a_worker_stamped_recently_is_alive_and_one_gone_is_not(settings: Settings, redis: Redis) -> None:
    keys = QueueKeys(settings.queue_prefix)
    now = time.time()
    liveness.stamp(redis, keys, "gone", now - liveness.WINDOW_SECONDS - 1)
    liveness.stamp(redis, keys, "host:1", now)
    liveness.stamp(redis, keys, "host:2", now - 1)
    assert liveness.alive(redis, keys, now) == 2
    liveness.stamp(redis, keys, "host:1", now + 5 * liveness.WINDOW_SECONDS)  # much later: the others are dropped
    assert redis.zrange(keys.workers_alive, 0, -1) == [b"host:1"]


def test_a_batch_split_to_isolate_a_refused_callback_counts_each_callback_once(
    settings: Settings, web: TestClient, engine: Engine
) -> None:
    # PostgreSQL refuses a NUL character in text: the batch is halved until that callback stands alone, and
    # each failed attempt's figures roll back with it.
    poisoned = pivot_event("PAYMENT.PAID", "sess-nul", "bad\x00ref", "PAID")
    good = [pivot_event("PAYMENT.PAID", f"sess-{i}", f"ok-{i}", "PAID") for i in range(9)]
    for body in [*good[:4], poisoned, *good[4:]]:
        post(web, "pivot", body)
    drain_all(settings)
    assert _counts(engine) == {("pivot", "applied"): 9, ("pivot", "dead_letter"): 1}
