"""The state machine over every pair of canonical statuses, in both orders."""

from __future__ import annotations

import itertools

import pytest

from shared.canonical import Outcome, Status
from shared.transitions import CLASHES as CLASH_TABLE
from shared.transitions import RANK, decide

NO_MONEY = {Status.CANCELLED, Status.EXPIRED, Status.FAILED}
PAIRS = list(itertools.permutations(Status, 2)) + [(s, s) for s in Status]
CLASHES = [(a, b) for a, b in PAIRS if RANK[a] == RANK[b]]
# Pairs whose final status the contract makes order-independent: all but clashes that keep the first.
COMMUTING = [(a, b) for a, b in PAIRS if not ((RANK[a] == RANK[b] and a != b) and Status.PAID not in (a, b))]


def _run(*statuses: Status) -> tuple[Status, list[Outcome]]:
    current: Status | None = None
    outcomes = []
    for status in statuses:
        decision = decide(current, status)
        outcomes.append(decision.outcome)
        current = decision.status
    assert current is not None
    return current, outcomes


def test_first_event_of_a_payment_is_applied() -> None:
    for status in Status:
        assert decide(None, status).outcome is Outcome.APPLIED


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=lambda s: str(s))
def test_status_never_falls_in_rank(first: Status, second: Status) -> None:
    final, (_, outcome) = _run(first, second)
    assert RANK[final] == max(RANK[first], RANK[second])
    if RANK[second] > RANK[first]:
        assert (final, outcome) == (second, Outcome.APPLIED)
    elif RANK[second] < RANK[first]:
        assert (final, outcome) == (first, Outcome.STALE)


@pytest.mark.parametrize(("first", "second"), CLASHES, ids=lambda s: str(s))
def test_equal_rank_clashes_follow_the_contract(first: Status, second: Status) -> None:
    final, (_, outcome) = _run(first, second)
    if first == second or RANK[first] != 2:
        assert (final, outcome) == (first, Outcome.STALE)
    elif Status.PAID in (first, second):
        # Money moved wins, whichever arrived first.
        assert (final, outcome) == (Status.PAID, Outcome.CONFLICT)
    else:
        assert (final, outcome) == (first, Outcome.CONFLICT)


@pytest.mark.parametrize("lost", sorted(NO_MONEY))
def test_paid_wins_over_final_failures_in_both_orders(lost: Status) -> None:
    assert _run(lost, Status.PAID)[0] is Status.PAID
    assert _run(Status.PAID, lost)[0] is Status.PAID


@pytest.mark.parametrize(("a", "b"), COMMUTING, ids=lambda s: str(s))
def test_final_status_does_not_depend_on_order_unless_the_contract_keeps_the_first(a: Status, b: Status) -> None:
    assert _run(a, b)[0] is _run(b, a)[0]


def _process(events: list[tuple[Status, float]]) -> tuple[Status, list[Outcome]]:
    """Apply (status, arrival time) events in the given processing order."""
    current: Status | None = None
    since: float | None = None
    outcomes = []
    for status, arrived in events:
        decision = decide(current, status, current_arrived=since, incoming_arrived=arrived)
        outcomes.append(decision.outcome)
        if decision.status != current:
            current, since = decision.status, arrived
    assert current is not None
    return current, outcomes


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=lambda s: str(s))
def test_final_status_depends_on_arrival_not_on_processing_order(a: Status, b: Status) -> None:
    """a arrived first, b second; a worker may process them in either order (a reclaimed entry, a replay)."""
    in_order = _process([(a, 1.0), (b, 2.0)])[0]
    reversed_processing = _process([(b, 2.0), (a, 1.0)])[0]
    assert in_order is reversed_processing


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for a, b in CLASH_TABLE if Status.PAID not in (a, b)],
    ids=lambda s: str(s),
)
def test_keep_first_clashes_keep_the_first_to_arrive_even_when_processed_second(first: Status, second: Status) -> None:
    final, (_, outcome) = _process([(second, 2.0), (first, 1.0)])
    assert final is first
    assert outcome is (Outcome.CONFLICT if RANK[first] == 2 else Outcome.APPLIED)
