"""Draining the stream on the real Redis and PostgreSQL: the consumer group made once (from id 0), the slot's
doorbell held while a drain runs and released after it, a full batch ringing the next slot; entries left
pending by a dead worker reclaimed after the claim timeout, and one that keeps killing workers dead-lettered."""

from __future__ import annotations

import os
from typing import Any, cast

import pytest
from redis import Redis
from sqlalchemy import Engine

from shared.canonical import Outcome
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.support.pipeline import append, drain_all, pivot_event, rows, scalar
from workers.context import WorkerContext
from workers.drain import Drain, ensure_group
from workers.pipeline import commit, prepare

pytestmark = pytest.mark.integration


def enqueue(redis: Redis, keys: QueueKeys, callback: QueuedCallback) -> None:
    append(redis, keys, callback)


def test_the_group_is_made_once_from_the_start_of_the_stream(settings: Settings, redis: Redis) -> None:
    keys = QueueKeys(settings.queue_prefix)
    enqueue(redis, keys, QueuedCallback("pivot", b"{}", {}, 1.0))
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        ensure_group(ctx)
        ensure_group(ctx)  # BUSYGROUP: already there
    finally:
        ctx.close()
    [group] = redis.xinfo_groups(keys.stream)
    assert group["name"].decode() == keys.group and group["lag"] == 1


def test_a_drain_applies_what_is_queued_and_releases_its_doorbell(
    settings: Settings, redis: Redis, engine: Engine
) -> None:
    keys = QueueKeys(settings.queue_prefix)
    for n in range(3):
        body = pivot_event("PAYMENT.PAID", f"sess-{n}", f"order-{n}", "PAID")
        enqueue(redis, keys, QueuedCallback("pivot", body, {}, float(n)))
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        report = Drain(ctx).run(0)
    finally:
        ctx.close()
    assert report.outcomes[Outcome.APPLIED] == 3
    assert scalar(engine, "SELECT count(*) FROM payments WHERE status = 'paid'") == 3
    assert redis.exists(keys.drain_bell_key(0)) == 0 and redis.xlen(keys.stream) == 0


def test_an_entry_redelivered_after_its_commit_changes_nothing(
    settings: Settings, redis: Redis, engine: Engine
) -> None:
    keys = QueueKeys(settings.queue_prefix)
    body = pivot_event("PAYMENT.PAID", "sess-x", "order-x", "PAID")
    enqueue(redis, keys, QueuedCallback("pivot", body, {}, 1.0))
    redis.xgroup_create(keys.stream, keys.group, id="0")
    # A worker reads the entry and commits its effect, then dies before XACK: the entry stays pending.
    [[_, [(entry_id, fields)]]] = cast(Any, redis.xreadgroup(keys.group, "ghost", {keys.stream: ">"}, count=1))
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        commit(ctx.sessions, prepare([(entry_id.decode(), fields)], ctx.providers), ctx.sealer)
    finally:
        ctx.close()
    assert redis.xpending(keys.stream, keys.group)["pending"] == 1
    drain_all(settings)  # reclaims it after the claim timeout, and processes it again
    assert scalar(engine, "SELECT count(*) FROM payment_events") == 1
    assert rows(engine, "SELECT entry_id FROM payment_events")[0].entry_id == entry_id.decode()
    assert redis.xlen(keys.stream) == 0


def test_an_entry_that_keeps_killing_workers_is_dead_lettered(settings: Settings, redis: Redis, engine: Engine) -> None:
    keys = QueueKeys(settings.queue_prefix)
    body = pivot_event("PAYMENT.PAID", "sess-p", "order-p", "PAID")
    enqueue(redis, keys, QueuedCallback("pivot", body, {"content-type": "application/json"}, 2.0))
    redis.xgroup_create(keys.stream, keys.group, id="0")
    [[_, [(entry_id, _)]]] = cast(Any, redis.xreadgroup(keys.group, "victim-0", {keys.stream: ">"}))
    # Each crashed worker leaves the entry pending; the next one claims it and dies too.
    for n in range(1, settings.max_deliveries - 1):
        redis.xclaim(keys.stream, keys.group, f"victim-{n}", 0, [entry_id])
    redis.xclaim(keys.stream, keys.group, "victim-last", 0, [entry_id], idle=10_000)
    drain_all(settings)
    [letter] = rows(engine, "SELECT reason, body, headers, detail FROM dead_letters")
    assert letter.reason == "crashed_worker"
    assert bytes(letter.body) == body and letter.headers == {"content-type": "application/json"}
    assert f"delivered {settings.max_deliveries} times" in letter.detail
    assert scalar(engine, "SELECT count(*) FROM payments") == 0
