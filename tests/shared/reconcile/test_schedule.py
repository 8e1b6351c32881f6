"""The reconciliation schedule: pure, no I/O."""

from __future__ import annotations

import pytest

from shared.canonical import Status
from shared.reconcile.schedule import NextCheck, after_change, after_query

SCHEDULE = (60.0, 300.0, 900.0)


@pytest.mark.parametrize("status", [Status.PENDING, Status.PROCESSING])
def test_a_payment_that_is_not_final_is_first_asked_about_one_delay_after_its_change(status: Status) -> None:
    assert after_change(status, 1000.0, SCHEDULE) == NextCheck(1060.0, 0, False)


@pytest.mark.parametrize("status", [s for s in Status if s not in (Status.PENDING, Status.PROCESSING)])
def test_a_final_payment_is_not_asked_about(status: Status) -> None:
    assert after_change(status, 1000.0, SCHEDULE) == NextCheck(None)
    assert after_query(status, 0, answered=True, now=1.0, schedule=SCHEDULE, retry_after=None) == NextCheck(None)


def test_each_query_spends_a_delay_and_the_last_leaves_the_payment_unresolved() -> None:
    step, now, seen = 0, 0.0, []
    while True:
        plan = after_query(Status.PENDING, step, answered=True, now=now, schedule=SCHEDULE, retry_after=None)
        seen.append(plan)
        if plan.at is None:
            break
        step, now = plan.step, plan.at
    assert seen == [NextCheck(300.0, 1), NextCheck(1200.0, 2), NextCheck(None, 3, unresolved=True)]


def test_a_query_that_taught_nothing_is_retried_on_the_schedule_even_for_a_final_payment() -> None:
    """A paid payment asked about to confirm a refund notification, while the API is down."""
    plan = after_query(Status.PAID, 0, answered=False, now=10.0, schedule=SCHEDULE, retry_after=None)
    assert plan == NextCheck(310.0, 1)
    spent = after_query(Status.PAID, 2, answered=False, now=10.0, schedule=SCHEDULE, retry_after=None)
    assert spent.unresolved and spent.at is None


def test_retry_after_is_honoured_when_longer_than_the_schedule() -> None:
    assert after_query(Status.PENDING, 0, answered=False, now=0.0, schedule=SCHEDULE, retry_after=7200.0).at == 7200.0
    assert after_query(Status.PENDING, 0, answered=False, now=0.0, schedule=SCHEDULE, retry_after=5.0).at == 300.0
