"""The Overview's per-minute figures: a batch's counts tallied by outcome and dead letters (no I/O), then on
the real PostgreSQL added per shard and summed over the shards, backlog samples keeping the largest of the
minute, old rows pruned. The provider names are the test's own, so figures of other tests never mix in."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.canonical import Outcome
from shared.db import figures


def test_a_batch_is_tallied_by_outcome_and_dead_letters_whatever_their_reason() -> None:
    events = Counter({("pivot", Outcome.APPLIED): 3, ("pivot", Outcome.DUPLICATE): 1, ("midtrans", Outcome.STALE): 0})
    letters = Counter({("pivot", "invalid_json"): 2, ("pivot", "unknown_event"): 1})
    assert figures.tally(events, letters) == {
        ("pivot", "applied"): 3,
        ("pivot", "duplicate"): 1,
        ("pivot", figures.DEAD_LETTER): 3,
    }
    assert figures.tally(Counter(), Counter()) == {}


@pytest.mark.integration
def test_counts_add_up_over_shards_and_samples_keep_the_largest(engine: Engine) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    with Session(engine) as session, session.begin():
        figures.add(session, {("fig-a", "applied"): 2, ("fig-a", "stale"): 0}, shard=0)
        figures.add(session, {("fig-a", "applied"): 3}, shard=1)
        figures.add(session, {("fig-a", "applied"): 1}, shard=1)
        figures.add(session, {})
        figures.sample(session, {figures.QUEUED: 7}, provider="fig-b")
        figures.sample(session, {figures.QUEUED: 5}, provider="fig-b")
    with Session(engine) as session:
        mine = [f for f in figures.since(session, start) if f.provider in ("fig-a", "fig-b")]
    assert sorted((f.provider, f.kind, f.count) for f in mine) == [("fig-a", "applied", 6), ("fig-b", "queued", 7)]
    with Session(engine) as session, session.begin():
        assert figures.prune(session, keep_seconds=3600) == 0
        assert figures.prune(session, keep_seconds=-120) >= 3
    with Session(engine) as session:
        assert [f for f in figures.since(session, start) if f.provider in ("fig-a", "fig-b")] == []
