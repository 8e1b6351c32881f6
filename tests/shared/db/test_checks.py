"""Reconciliation's rows on the real PostgreSQL: due payments claimed under a lease (each by one claim at a
time), put first in line by order reference or filter, planned (a settled batch in one statement), recorded,
and listed once unresolved."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from shared.canonical import Status
from shared.db import checks
from shared.db.models import Payment
from shared.reconcile.schedule import NextCheck

pytestmark = pytest.mark.integration


def _payments(engine: Engine, *refs: str, provider: str = "pivot") -> list[int]:
    with Session(engine) as session, session.begin():
        rows = [Payment(provider=provider, payment_key=f"key-{r}", order_ref=r, status=Status.PENDING) for r in refs]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_due_payments_are_claimed_once_under_a_lease(engine: Engine) -> None:
    ids = _payments(engine, "a", "b", "c")
    _payments(engine, "m", provider="midtrans")
    with Session(engine) as session, session.begin():
        assert not checks.any_due(session, ["pivot", "midtrans"])
        assert checks.ask_now(session, "pivot", ["a", "b", "zzz"], "report") == 2
        assert checks.ask_now(session, "pivot", [], "report") == 0
        assert checks.any_due(session, ["pivot"]) and not checks.any_due(session, ["midtrans"])
    with Session(engine) as session, session.begin():
        claimed = checks.claim_due(session, "pivot", limit=10, lease_seconds=60)
    assert sorted(d.id for d in claimed) == ids[:2]
    assert {d.reason for d in claimed} == {"report"} and {d.status for d in claimed} == {Status.PENDING}
    with Session(engine) as session, session.begin():
        assert checks.claim_due(session, "pivot", limit=10, lease_seconds=60) == []
        assert not checks.any_due(session, ["pivot"])


def test_a_filter_puts_its_payments_first_in_line(engine: Engine) -> None:
    _payments(engine, "a", "b")
    with Session(engine) as session, session.begin():
        paid, pending = checks.ReconcileFilters(("pivot",), "paid"), checks.ReconcileFilters(("pivot",), "pending")
        newest = checks.newest_payment_id(session)
        assert checks.payment_ids(session, paid, after=0, up_to=newest, limit=10) == []
        chosen = checks.payment_ids(session, pending, after=0, up_to=newest, limit=10)
        assert len(chosen) == checks.count_payments(session, pending, up_to=newest) == 2
        assert checks.payment_ids(session, pending, after=chosen[0], up_to=newest, limit=10) == chosen[1:]
        assert checks.ask_ids(session, chosen, reason="job") == 2
        assert {d.reason for d in checks.claim_due(session, "pivot", 10, 60)} == {"job"}


def test_a_plan_moves_a_payment_and_an_unresolved_one_is_listed_with_its_checks(engine: Engine) -> None:
    first, second = _payments(engine, "a", "b")
    with Session(engine) as session, session.begin():
        checks.plan(
            session,
            [(first, NextCheck(at=time.time() - 1, step=3, unresolved=False)), (second, NextCheck(None, 9, True))],
        )
        checks.record(
            session,
            [
                checks.Check(second, "schedule", "NOT_FOUND" * 100, "not_found", Status.PENDING, None),
                checks.Check(second, "manual", "PAID", "corrected", Status.PENDING, Status.PAID, actor="ana"),
            ],
        )
    with Session(engine) as session, session.begin():
        [due] = checks.claim_due(session, "pivot", 10, 60)
        assert (due.id, due.step, due.reason) == (first, 3, "schedule")
        assert [p.id for p in checks.unresolved(session)] == [second] and checks.count_unresolved(session) == 1
        assert checks.unresolved(session, "midtrans") == []
        history = checks.history(session, second)
        assert [(c.reason, c.actor) for c in history] == [("schedule", None), ("manual", "ana")]
        assert len(history[0].provider_status) == 500
        assert [c.reason for c in checks.history(session, second, limit=1)] == ["manual"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT next_check_at FROM payments WHERE id = :i"), {"i": second}).scalar() is None


def _many(engine: Engine, count: int) -> list[int]:
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
    ids = _many(engine, 300)
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
    (only,) = _many(engine, 1)
    with Session(engine) as session, session.begin():
        checks.plan(session, [(only, NextCheck(None, 3, unresolved=True))])
    first = _rows(engine)[0].unresolved_at
    with Session(engine) as session, session.begin():
        checks.plan(session, [(only, NextCheck(None, 3, unresolved=True))])
    assert _rows(engine)[0].unresolved_at == first
