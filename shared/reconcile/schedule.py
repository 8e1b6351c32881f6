"""When a payment is asked about next: data and two pure functions, used by every path that changes a payment
or asks about one.

A payment that is not final (pending, processing) is asked about once each delay of the schedule has passed:
the first counted from its last change, the next from each query. When every delay is spent and it is still
not final, it is unresolved: it keeps its status, is listed and alerted on, and is asked about no more until
something changes it. A status change starts the schedule again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.canonical import Status

NOT_FINAL = frozenset({Status.PENDING, Status.PROCESSING})


@dataclass(frozen=True, slots=True)
class NextCheck:
    # Unix seconds of the next query; None: none planned.
    at: float | None
    # How many delays of the schedule are spent.
    step: int = 0
    unresolved: bool = False


def after_change(status: Status, now: float, schedule: Sequence[float]) -> NextCheck:
    """A payment whose status just changed (a callback, an answer, a payment newly expected)."""
    return NextCheck(now + schedule[0]) if status in NOT_FINAL else NextCheck(None)


def after_query(
    status: Status, step: int, *, answered: bool, now: float, schedule: Sequence[float], retry_after: float | None
) -> NextCheck:
    """A payment just asked about: ``answered`` when the provider said something about it (found or not found),
    false when the query taught nothing (rate-limited, down, malformed: ask again, no earlier than
    ``retry_after``). A final payment that was answered needs no more queries."""
    if answered and status not in NOT_FINAL:
        return NextCheck(None)
    step += 1
    if step >= len(schedule):
        return NextCheck(None, step, unresolved=True)
    return NextCheck(now + max(schedule[step], retry_after or 0.0), step)
