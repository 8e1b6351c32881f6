"""The payment state machine, as data: ranks, and the rank-2 clashes the contract settles specially.

Every path that changes a payment's status goes through ``decide``.
"""

from __future__ import annotations

from typing import NamedTuple

from shared.canonical import Outcome, Status

RANK: dict[Status, int] = {
    Status.PENDING: 1,
    Status.PROCESSING: 1,
    Status.PAID: 2,
    Status.CANCELLED: 2,
    Status.EXPIRED: 2,
    Status.FAILED: 2,
    Status.PARTIALLY_REFUNDED: 3,
    Status.REFUNDED: 4,
    Status.REVERSED: 4,
}

_MONEY_DID_NOT_MOVE = (Status.CANCELLED, Status.EXPIRED, Status.FAILED)


class Decision(NamedTuple):
    outcome: Outcome
    status: Status


# Clashes between different final outcomes of rank 2, as (current, incoming) -> resulting status.
# Money moved wins: paid replaces cancelled/expired/failed and is never replaced by them. Any other clash
# keeps the first. Every entry is recorded as a conflict on the incoming event.
CONFLICTS: dict[tuple[Status, Status], Status] = {
    **{(lost, Status.PAID): Status.PAID for lost in _MONEY_DID_NOT_MOVE},
    **{(Status.PAID, lost): Status.PAID for lost in _MONEY_DID_NOT_MOVE},
    **{(a, b): a for a in _MONEY_DID_NOT_MOVE for b in _MONEY_DID_NOT_MOVE if a != b},
}


def decide(current: Status | None, incoming: Status) -> Decision:
    """What an event with status ``incoming`` does to a payment whose status is ``current`` (None: unknown)."""
    if current is None or RANK[incoming] > RANK[current]:
        return Decision(Outcome.APPLIED, incoming)
    settled = CONFLICTS.get((current, incoming))
    if settled is not None:
        return Decision(Outcome.CONFLICT, settled)
    return Decision(Outcome.STALE, current)
