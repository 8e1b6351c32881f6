"""The payment state machine, as data: ranks, and how clashes between statuses of equal rank are settled.

Every path that changes a payment's status goes through ``decide``.
"""

from __future__ import annotations

import enum
import itertools
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


class Clash(enum.Enum):
    INCOMING_WINS = "incoming wins"
    CURRENT_WINS = "current wins"
    # The status that arrived first is kept, whichever was processed first (a reclaimed or replayed
    # callback is processed late, but arrived when it arrived).
    FIRST_ARRIVED = "first arrived"


class Decision(NamedTuple):
    outcome: Outcome
    status: Status


_MONEY_DID_NOT_MOVE = (Status.CANCELLED, Status.EXPIRED, Status.FAILED)

# Every pair of different statuses of equal rank, as (current, incoming). Money moved wins: paid replaces
# cancelled/expired/failed and is never replaced by them, whenever each arrives.
CLASHES: dict[tuple[Status, Status], Clash] = {
    (a, b): Clash.FIRST_ARRIVED for a, b in itertools.permutations(Status, 2) if RANK[a] == RANK[b]
} | {
    **{(lost, Status.PAID): Clash.INCOMING_WINS for lost in _MONEY_DID_NOT_MOVE},
    **{(Status.PAID, lost): Clash.CURRENT_WINS for lost in _MONEY_DID_NOT_MOVE},
}
# Clashes of final outcomes (rank 2) are recorded as conflicts; elsewhere the later arrival is stale.
CONFLICT_RANK = 2


def decide(
    current: Status | None,
    incoming: Status,
    *,
    current_arrived: float | None = None,
    incoming_arrived: float | None = None,
) -> Decision:
    """What an event with status ``incoming`` does to a payment whose status is ``current`` (None: unknown).

    ``*_arrived`` are receive times: the event that set ``current``, and the incoming one.
    """
    if current is None or RANK[incoming] > RANK[current]:
        return Decision(Outcome.APPLIED, incoming)
    clash = CLASHES.get((current, incoming))
    if clash is None:  # lower rank, or the same status again
        return Decision(Outcome.STALE, current)
    if clash is Clash.FIRST_ARRIVED:
        earlier = current_arrived is not None and incoming_arrived is not None and incoming_arrived < current_arrived
        clash = Clash.INCOMING_WINS if earlier else Clash.CURRENT_WINS
    winner = incoming if clash is Clash.INCOMING_WINS else current
    if RANK[incoming] == CONFLICT_RANK:
        return Decision(Outcome.CONFLICT, winner)
    return Decision(Outcome.APPLIED if winner is incoming else Outcome.STALE, winner)
