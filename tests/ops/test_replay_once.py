"""Two bulk replays at once share the dead letters between them: none is replayed twice."""

from __future__ import annotations

import threading

import pytest
from redis import Redis
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.db.dead_letters import Filters
from shared.ops.service import OperatorService
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.support.pipeline import drain_all, post, scalar

pytestmark = pytest.mark.integration


def test_concurrent_bulk_replays_replay_each_letter_once(
    settings: Settings, web: TestClient, redis: Redis, engine: Engine
) -> None:
    letters = 150
    for i in range(letters):
        post(web, "pivot", f"poison {i}".encode())
    drain_all(settings)
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == letters
    stream = QueueKeys(settings.queue_prefix).stream
    before = redis.xlen(stream)
    start = threading.Barrier(2)
    replayed: list[list[int]] = []

    def replay_all() -> None:
        ops = OperatorService(settings)
        try:
            ids = ops.matching(Filters())
            start.wait()
            replayed.append(ops.replay(ids, actor="test"))
        finally:
            ops.close()

    threads = [threading.Thread(target=replay_all) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done = [letter for run in replayed for letter in run]
    assert sorted(done) == sorted(set(done)), "a letter was replayed twice"
    assert len(done) == letters
    assert redis.xlen(stream) - before == letters, "one stream entry per letter"
    drain_all(settings)
    assert scalar(engine, "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL") == letters
