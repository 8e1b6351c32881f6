"""Apply a batch of canonical events to PostgreSQL: deduplicate, run the state machine, record outcomes.

Domain code: it takes a session inside a transaction and never commits. Every step is one statement for
the whole batch, whatever its size: columns travel as arrays and ``unnest`` turns them back into rows, so
each statement has one fixed text (compiled and prepared once) however many callbacks a batch holds.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.canonical import CanonicalEvent, Outcome, Status
from shared.db import outbox_events as outbox
from shared.queue import QueuedCallback
from shared.reconcile.schedule import NextCheck, after_change
from shared.sealing import Sealer
from shared.status_api import Source
from shared.transitions import decide

_CREATE_PAYMENTS = text("""
    INSERT INTO payments (provider, account, payment_key, status)
    SELECT * FROM unnest(CAST(:providers AS text[]), CAST(:accounts AS text[]), CAST(:keys AS text[]),
                         CAST(:statuses AS text[]))
    ON CONFLICT (provider, account, payment_key) DO NOTHING
    RETURNING provider, account, payment_key
""")
_LOCK_PAYMENTS = text("""
    SELECT p.id, p.provider, p.account, p.payment_key, p.status, p.status_received_at, p.amount, p.currency,
           p.order_ref, p.provider_payment_id
    FROM payments p
    JOIN unnest(CAST(:providers AS text[]), CAST(:accounts AS text[]), CAST(:keys AS text[]))
         AS k(provider, account, payment_key)
      ON p.provider = k.provider AND p.account = k.account AND p.payment_key = k.payment_key
    ORDER BY p.provider, p.account, p.payment_key
    FOR UPDATE OF p
""")
_INSERT_EVENTS = text("""
    INSERT INTO payment_events (payment_id, entry_id, provider, event_type, event_key, status, outcome, amount,
                                refund_amount, currency, occurred_at, received_at, raw, source, account)
    SELECT * FROM unnest(
        CAST(:payment_ids AS bigint[]), CAST(:entry_ids AS text[]), CAST(:providers AS text[]),
        CAST(:event_types AS text[]), CAST(:event_keys AS text[]), CAST(:statuses AS text[]),
        CAST(:outcomes AS text[]), CAST(:amounts AS numeric[]), CAST(:refund_amounts AS numeric[]),
        CAST(:currencies AS text[]), CAST(:occurred AS timestamptz[]), CAST(:received AS timestamptz[]),
        CAST(:raws AS bytea[]), CAST(:sources AS text[]), CAST(:accounts AS text[]))
    ON CONFLICT DO NOTHING
    RETURNING entry_id
""")
_CORRECT_OUTCOMES = text("""
    UPDATE payment_events e SET outcome = v.outcome
    FROM unnest(CAST(:entry_ids AS text[]), CAST(:outcomes AS text[])) AS v(entry_id, outcome)
    WHERE e.entry_id = v.entry_id
""")
# A payment whose status changed (or whose callback waits for the provider's confirmation) is given its next
# query; the others keep theirs.
_UPDATE_PAYMENTS = text("""
    UPDATE payments p
    SET status = v.status, status_received_at = v.status_received_at, amount = v.amount, currency = v.currency,
        order_ref = v.order_ref, provider_payment_id = v.provider_payment_id, updated_at = now(),
        next_check_at = CASE WHEN v.replan THEN v.next_check_at ELSE p.next_check_at END,
        check_step = CASE WHEN v.replan THEN 0 ELSE p.check_step END,
        check_reason = CASE WHEN v.replan THEN v.check_reason ELSE p.check_reason END,
        unresolved_at = CASE WHEN v.status_changed THEN NULL ELSE p.unresolved_at END
    FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:arrived AS timestamptz[]),
                CAST(:amounts AS numeric[]), CAST(:currencies AS text[]), CAST(:order_refs AS text[]),
                CAST(:provider_payment_ids AS text[]), CAST(:replan AS boolean[]),
                CAST(:next_checks AS timestamptz[]), CAST(:check_reasons AS text[]),
                CAST(:status_changed AS boolean[]))
         AS v(id, status, status_received_at, amount, currency, order_ref, provider_payment_id, replan,
              next_check_at, check_reason, status_changed)
    WHERE p.id = v.id
""")


PaymentKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Item:
    """One normalized callback (or status API answer) on its way into the database."""

    entry_id: str
    event: CanonicalEvent
    callback: QueuedCallback
    source: Source = Source.CALLBACK
    # The provider's signature does not cover the status: kept, applied only as its status API
    # confirms; the payment is asked about at once.
    unconfirmed: bool = False

    @property
    def payment(self) -> PaymentKey:
        """Which payment: the provider, the merchant account, the provider's key of the payment."""
        return (self.event.provider, self.callback.account, self.event.payment_key)


@dataclass(frozen=True, slots=True)
class Policy:
    """What applying needs to know beyond the events: the reconciliation schedule, and the time."""

    schedule: Sequence[float] = (60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
    now: float = field(default_factory=time.time)


class DedupInvariantBroken(RuntimeError):
    """An event row vanished between the dedup insert and its outcome update; the batch is retried."""


@dataclass(slots=True)
class _PaymentState:
    id: int
    status: Status | None
    status_arrived: float | None
    amount: Decimal | None
    currency: str | None
    order_ref: str | None
    provider_payment_id: str | None
    # The status the row was created with, when this batch created it.
    created_as: Status | None = None
    changed: bool = False
    status_changed: bool = False
    # A callback waits for the provider's confirmation: ask about the payment now.
    confirm: bool = False


@dataclass(frozen=True, slots=True)
class Applied:
    # How many events of each provider ended with each outcome; how many outbox deliveries were made.
    outcomes: Counter[tuple[str, Outcome]]
    deliveries: int = 0
    # Each item's outcome, by entry id; how many payments are to be asked about at once (confirmations).
    by_entry: dict[str, Outcome] = field(default_factory=dict)
    confirmations: int = 0


def apply_events(session: Session, items: list[Item], sealer: Sealer, policy: Policy | None = None) -> Applied:
    """Apply ``items`` (in arrival order): outcomes recorded, payments updated (with their next query), and an
    outbox event written for every status change and every conflict, all in the caller's transaction."""
    if not items:
        return Applied(Counter())
    policy = policy or Policy()
    payments = _lock_payments(session, items)
    first_of_key = _insert_first_of_each_key(session, items, payments, sealer)
    outcomes, changes = _run_state_machine(items, payments, first_of_key)
    _record_outcomes(session, items, payments, first_of_key, outcomes, sealer)
    _update_payments(session, payments, policy)
    deliveries = outbox.write(session, changes)
    counted = Counter((item.event.provider, outcomes[item.entry_id]) for item in items)
    confirmations = sum(1 for p in payments.values() if p.confirm)
    return Applied(counted, deliveries, outcomes, confirmations)


def _lock_payments(session: Session, items: list[Item]) -> dict[PaymentKey, _PaymentState]:
    """Create the payments not seen before, then lock every payment of the batch, in one stable order."""
    firsts: dict[PaymentKey, Status] = {}
    for item in items:
        # A payment first seen by a callback that waits for confirmation is pending until the provider says.
        status = Status.PENDING if item.unconfirmed else item.event.status
        firsts.setdefault(item.payment, status)
    keys = sorted(firsts)
    columns = {
        "providers": [p for p, _, _ in keys],
        "accounts": [a for _, a, _ in keys],
        "keys": [k for _, _, k in keys],
    }
    created = session.execute(_CREATE_PAYMENTS, {**columns, "statuses": [str(firsts[k]) for k in keys]}).all()
    new = {(row.provider, row.account, row.payment_key) for row in created}
    rows = session.execute(_LOCK_PAYMENTS, columns)
    states: dict[PaymentKey, _PaymentState] = {}
    for row in rows:
        key = (row.provider, row.account, row.payment_key)
        fresh = key in new
        states[key] = _PaymentState(
            id=row.id,
            status=None if fresh else Status(row.status),
            status_arrived=row.status_received_at.timestamp() if row.status_received_at else None,
            amount=row.amount,
            currency=row.currency,
            order_ref=row.order_ref,
            provider_payment_id=row.provider_payment_id,
            created_as=Status(row.status) if fresh else None,
            changed=fresh,
            status_changed=fresh,
        )
    return states


def _event_columns(rows: list[tuple[Item, int, Outcome]], sealer: Sealer) -> dict[str, list[Any]]:
    return {
        "payment_ids": [payment_id for _, payment_id, _ in rows],
        "entry_ids": [item.entry_id for item, _, _ in rows],
        "providers": [item.event.provider for item, _, _ in rows],
        "event_types": [item.event.event_type for item, _, _ in rows],
        "event_keys": [item.event.event_key for item, _, _ in rows],
        "statuses": [str(item.event.status) for item, _, _ in rows],
        "outcomes": [str(outcome) for _, _, outcome in rows],
        "amounts": [item.event.amount for item, _, _ in rows],
        "refund_amounts": [item.event.refund_amount for item, _, _ in rows],
        "currencies": [item.event.currency for item, _, _ in rows],
        "occurred": [item.event.occurred_at for item, _, _ in rows],
        "received": [datetime.fromtimestamp(item.callback.received_at, UTC) for item, _, _ in rows],
        "raws": [sealer.seal(item.callback.body) for item, _, _ in rows],
        "sources": [str(item.source) for item, _, _ in rows],
        "accounts": [item.callback.account for item, _, _ in rows],
    }


def _payment_id(payments: dict[PaymentKey, _PaymentState], item: Item) -> int:
    return payments[item.payment].id


def _insert_first_of_each_key(
    session: Session, items: list[Item], payments: dict[PaymentKey, _PaymentState], sealer: Sealer
) -> set[str]:
    """Insert the first arrival of each event key; return the entry ids that PostgreSQL took as new.

    The partial unique index on (provider, account, event_key) decides what is a duplicate, also against a
    concurrent worker; the unique entry_id makes a redelivered entry change nothing. Rows go in as
    'applied' and are corrected below once the state machine has run.
    """
    seen: set[tuple[str, str, str]] = set()
    candidates: list[tuple[Item, int, Outcome]] = []
    for item in items:
        key = (item.event.provider, item.callback.account, item.event.event_key)
        if key not in seen:
            seen.add(key)
            candidates.append((item, _payment_id(payments, item), Outcome.APPLIED))
    return set(session.execute(_INSERT_EVENTS, _event_columns(candidates, sealer)).scalars())


def _run_state_machine(
    items: list[Item], payments: dict[PaymentKey, _PaymentState], first_of_key: set[str]
) -> tuple[dict[str, Outcome], list[outbox.Change]]:
    """Each event's outcome, and the changes and conflicts the outbox tells the merchant about, in order."""
    outcomes: dict[str, Outcome] = {}
    changes: list[outbox.Change] = []
    for item in items:
        event = item.event
        payment = payments[item.payment]
        _learn_attributes(payment, event)
        if item.entry_id not in first_of_key:
            outcomes[item.entry_id] = Outcome.DUPLICATE
            continue
        if item.unconfirmed:
            outcomes[item.entry_id] = Outcome.UNCONFIRMED
            payment.confirm = payment.changed = True
            continue
        arrived = item.callback.received_at
        decision = decide(
            payment.status, event.status, current_arrived=payment.status_arrived, incoming_arrived=arrived
        )
        previous = payment.status
        if decision.status != payment.status:
            payment.status, payment.status_arrived = decision.status, arrived
            payment.changed = payment.status_changed = True
        outcomes[item.entry_id] = decision.outcome
        if decision.outcome in (Outcome.APPLIED, Outcome.CONFLICT):
            change = outbox.Change(
                event, arrived, _view(payment), previous, decision.status, decision.outcome, str(item.source),
                item.callback.account,
            )  # fmt: skip
            changes.append(change)
    return outcomes, changes


def _view(payment: _PaymentState) -> outbox.PaymentView:
    return outbox.PaymentView(
        payment.id, payment.order_ref, payment.provider_payment_id, payment.amount, payment.currency
    )


def _learn_attributes(payment: _PaymentState, event: CanonicalEvent) -> None:
    """Fill in what the payment did not know yet (a refund's amount is never the payment's amount)."""
    if payment.order_ref is None and event.order_ref is not None:
        payment.order_ref = event.order_ref
        payment.changed = True
    if payment.provider_payment_id is None and event.provider_payment_id is not None:
        payment.provider_payment_id = event.provider_payment_id
        payment.changed = True
    if payment.amount is None and event.amount is not None:
        payment.amount, payment.currency = event.amount, event.currency
        payment.changed = True


def _record_outcomes(
    session: Session,
    items: list[Item],
    payments: dict[PaymentKey, _PaymentState],
    first_of_key: set[str],
    outcomes: dict[str, Outcome],
    sealer: Sealer,
) -> None:
    duplicates = [
        (item, _payment_id(payments, item), Outcome.DUPLICATE)
        for item in items
        if outcomes[item.entry_id] is Outcome.DUPLICATE
    ]
    if duplicates:
        # A redelivered entry conflicts on entry_id here and is skipped: it was recorded the first time.
        session.execute(_INSERT_EVENTS, _event_columns(duplicates, sealer)).all()
    corrections = [(e, str(o)) for e, o in outcomes.items() if e in first_of_key and o is not Outcome.APPLIED]
    if corrections:
        result = session.execute(
            _CORRECT_OUTCOMES, {"entry_ids": [e for e, _ in corrections], "outcomes": [o for _, o in corrections]}
        )
        if result.rowcount != len(corrections):  # type: ignore[attr-defined]
            raise DedupInvariantBroken(f"updated {result.rowcount} of {len(corrections)} event outcomes")  # type: ignore[attr-defined]


def _next_check(payment: _PaymentState, policy: Policy) -> tuple[NextCheck, str | None]:
    """The payment's next query: at once to confirm a callback, else as its (new) status says."""
    if payment.confirm:
        return NextCheck(policy.now), "confirm"
    status = payment.status or payment.created_as
    assert status is not None
    planned = after_change(status, policy.now, policy.schedule)
    return planned, None if planned.at is None else "schedule"


def _update_payments(session: Session, payments: dict[PaymentKey, _PaymentState], policy: Policy) -> None:
    changed = [p for p in payments.values() if p.changed]
    if not changed:
        return
    replan = [p.status_changed or p.confirm for p in changed]
    plans = [
        _next_check(p, policy) if again else (NextCheck(None), None) for p, again in zip(changed, replan, strict=True)
    ]
    session.execute(
        _UPDATE_PAYMENTS,
        {
            "ids": [p.id for p in changed],
            "statuses": [str(p.status or p.created_as) for p in changed],
            "arrived": [datetime.fromtimestamp(p.status_arrived, UTC) if p.status_arrived else None for p in changed],
            "amounts": [p.amount for p in changed],
            "currencies": [p.currency for p in changed],
            "order_refs": [p.order_ref for p in changed],
            "provider_payment_ids": [p.provider_payment_id for p in changed],
            "replan": replan,
            "next_checks": [None if n.at is None else datetime.fromtimestamp(n.at, UTC) for n, _ in plans],
            "check_reasons": [reason for _, reason in plans],
            "status_changed": [p.status_changed for p in changed],
        },
    )
