"""Reconciliation's rows in the real PostgreSQL: a settled batch's payments each go to their own next place in
the schedule, in one statement however large the batch."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from shared.db import checks
from shared.reconcile.schedule import NextCheck

pytestmark = pytest.mark.integration


def _payments(engine: Engine, count: int) -> list[int]:
    with engine.begin() as conn:
        found = conn.execute(
            text("""
                INSERT INTO payments (provider, payment_key, status, next_check_at)
                SELECT 'pivot', 's-' || n, 'pending', now() FROM generate_series(1, :count) AS n RETURNING id
            """),
            {"count": count},
        )
        return sorted(found.scalars())


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        query = "SELECT extract(epoch FROM next_check_at) AS at, check_step, unresolved_at FROM payments ORDER BY id"
        return list(conn.execute(text(query)))


def test_each_payment_of_a_batch_goes_to_its_own_place_in_one_statement(engine: Engine) -> None:
    ids = _payments(engine, 300)
    soon = time.time() + 60
    batch = [(ids[0], NextCheck(soon, 2)), (ids[1], NextCheck(None)), (ids[2], NextCheck(None, 6, unresolved=True))]
    batch += [(i, NextCheck(soon + n, 1)) for n, i in enumerate(ids[3:])]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with Session(engine) as session, session.begin():
        checks.plan(session, batch)
    assert len(statements) == 1
    first, second, third, *rest = _rows(engine)
    assert (round(float(first.at)), first.check_step, first.unresolved_at) == (round(soon), 2, None)
    assert (second.at, second.check_step, second.unresolved_at) == (None, 0, None)
    assert (third.at, third.check_step) == (None, 6) and third.unresolved_at is not None
    assert [(round(float(r.at)), r.check_step) for r in rest] == [(round(soon + n), 1) for n in range(297)]


def test_a_payment_unresolved_again_keeps_when_it_first_was(engine: Engine) -> None:
    (only,) = _payments(engine, 1)
    with Session(engine) as session, session.begin():
        checks.plan(session, [(only, NextCheck(None, 3, unresolved=True))])
    first = _rows(engine)[0].unresolved_at
    with Session(engine) as session, session.begin():
        checks.plan(session, [(only, NextCheck(None, 3, unresolved=True))])
    assert _rows(engine)[0].unresolved_at == first
