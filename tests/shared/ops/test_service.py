"""The operator service every front end calls, on the real PostgreSQL and Redis: a replay appends each
letter's original callback to the stream exactly once and is audited; a payment is looked up with its
history; the queue's figures. (Bulk jobs: ``test_jobs``; the outbox: ``test_outbox``.)"""

from __future__ import annotations

from typing import Any, cast

import pytest
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.db import dead_letters as dlq
from shared.ops.service import OperatorService
from shared.queue import QueuedCallback, QueueKeys
from shared.sealing import Sealer
from shared.settings import Settings
from tests.support.pipeline import drain_all, pivot_event, rows

pytestmark = pytest.mark.integration


def _letters(engine: Engine, *bodies: bytes) -> list[int]:
    rejected = [
        dlq.Rejected(f"{n}-0", QueuedCallback("pivot", body, {"x": "y"}, 1.5), "unknown_event", "d")
        for n, body in enumerate(bodies, 1)
    ]
    with Session(engine) as session, session.begin():
        dlq.record(session, rejected, Sealer())
        return dlq.matching_ids(session, dlq.Filters())


def test_a_replay_appends_each_original_once_and_is_audited(settings: Settings, engine: Engine, redis: Redis) -> None:
    ids = _letters(engine, b'{"a": 1}', b'{"b": 2}')
    ops = OperatorService(settings, celery=None)
    try:
        assert ops.replay(ids, actor="ana") == ids
        assert ops.replay(ids, actor="ana") == []  # already replayed: nothing twice
        assert ops.waiting_letters() == 0 and ops.letters(dlq.Filters(), limit=10) == []
        stats = ops.queue()
        assert stats is not None and stats.queued == 2
    finally:
        ops.close()
    entries = cast(list[Any], redis.xrange(QueueKeys(settings.queue_prefix).stream))
    assert [QueuedCallback.decode(fields) for _, fields in entries] == [
        QueuedCallback("pivot", b'{"a": 1}', {"x": "y"}, 1.5),
        QueuedCallback("pivot", b'{"b": 2}', {"x": "y"}, 1.5),
    ]
    audit = rows(engine, "SELECT actor, action, count FROM audit_log ORDER BY id")
    assert [(a.actor, a.action, a.count) for a in audit] == [("ana", "dlq.replay", 2), ("ana", "dlq.replay", 0)]


def test_a_payment_is_looked_up_by_its_reference_with_its_history(settings: Settings, redis: Redis) -> None:
    keys = QueueKeys(settings.queue_prefix)
    for status in ("PROCESSING", "PAID"):
        body = pivot_event(f"PAYMENT.{status}", "ps-1", "order-1", status)
        redis.xadd(keys.stream, QueuedCallback("pivot", body, {}, 1.0).encode())  # type: ignore[arg-type]
    drain_all(settings)
    ops = OperatorService(settings, celery=None)
    try:
        found = ops.payment("pivot", "order-1")
        assert found is not None and found["status"] == "paid"
        assert [(e["status"], e["outcome"]) for e in found["events"]] == [
            ("processing", "applied"),
            ("paid", "applied"),
        ]
        assert ops.payment("pivot", "order-1", account="shop") is None
        assert ops.payment("pivot", "no-such-order") is None
    finally:
        ops.close()
