"""Apply a batch of canonical events to PostgreSQL: deduplicate, run the state machine, record outcomes.

Domain code: it takes a session inside a transaction and never commits. Every step is one round trip for
the whole batch, whatever its size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from shared.canonical import AmountKind, CanonicalEvent, Outcome, Status
from shared.db.models import Payment, PaymentEvent
from shared.queue import QueuedCallback
from workers.transitions import decide


@dataclass(frozen=True, slots=True)
class Item:
    """One normalized callback on its way into the database."""

    entry_id: str
    event: CanonicalEvent
    callback: QueuedCallback


class DedupInvariantBroken(RuntimeError):
    """An event row vanished between the dedup insert and its outcome update; the batch is retried."""


@dataclass(slots=True)
class _PaymentState:
    id: int
    status: Status | None
    status_arrived: float | None
    amount: Any
    currency: str | None
    order_ref: str | None
    provider_payment_id: str | None
    # The status the row was created with, when this batch created it.
    created_as: Status | None = None
    changed: bool = False


def apply_events(session: Session, items: list[Item]) -> Counter[Outcome]:
    """Apply ``items`` (in arrival order) and return how many ended with each outcome."""
    if not items:
        return Counter()
    payments = _lock_payments(session, items)
    first_of_key = _insert_first_of_each_key(session, items, payments)
    outcomes = _run_state_machine(items, payments, first_of_key)
    _record_outcomes(session, items, payments, first_of_key, outcomes)
    _update_payments(session, payments)
    return Counter(outcomes.values())


def _lock_payments(session: Session, items: list[Item]) -> dict[tuple[str, str], _PaymentState]:
    """Create the payments not seen before, then lock every payment of the batch, in one stable order."""
    firsts: dict[tuple[str, str], CanonicalEvent] = {}
    for item in items:
        firsts.setdefault((item.event.provider, item.event.payment_key), item.event)
    keys = sorted(firsts)
    created = session.execute(
        insert(Payment)
        .values(
            [{"provider": p, "payment_key": k, "status": firsts[(p, k)].status, "order_ref": None} for p, k in keys]
        )
        .on_conflict_do_nothing(index_elements=["provider", "payment_key"])
        .returning(Payment.provider, Payment.payment_key)
    ).all()
    new = {(row.provider, row.payment_key) for row in created}
    rows = session.execute(
        select(Payment)
        .where(tuple_(Payment.provider, Payment.payment_key).in_(keys))
        .order_by(Payment.provider, Payment.payment_key)
        .with_for_update()
    ).scalars()
    return {
        (p.provider, p.payment_key): _PaymentState(
            id=p.id,
            status=None if (p.provider, p.payment_key) in new else p.status,
            status_arrived=p.status_received_at.timestamp() if p.status_received_at else None,
            amount=p.amount,
            currency=p.currency,
            order_ref=p.order_ref,
            provider_payment_id=p.provider_payment_id,
            created_as=p.status if (p.provider, p.payment_key) in new else None,
            changed=(p.provider, p.payment_key) in new,
        )
        for p in rows
    }


def _event_row(item: Item, payment_id: int, outcome: Outcome) -> dict[str, Any]:
    event = item.event
    return {
        "payment_id": payment_id,
        "entry_id": item.entry_id,
        "provider": event.provider,
        "event_type": event.event_type,
        "event_key": event.event_key,
        "status": event.status,
        "outcome": outcome,
        "amount": event.amount,
        "currency": event.currency,
        "occurred_at": event.occurred_at,
        "received_at": datetime.fromtimestamp(item.callback.received_at, UTC),
        "raw": item.callback.body,
    }


def _insert_first_of_each_key(
    session: Session, items: list[Item], payments: dict[tuple[str, str], _PaymentState]
) -> set[str]:
    """Insert the first arrival of each event key; return the entry ids that PostgreSQL took as new.

    The partial unique index on (provider, event_key) decides what is a duplicate, also against a
    concurrent worker; the unique entry_id makes a redelivered entry change nothing. Rows go in as
    'applied' and are corrected below once the state machine has run.
    """
    seen: set[tuple[str, str]] = set()
    candidates: list[dict[str, Any]] = []
    for item in items:
        key = (item.event.provider, item.event.event_key)
        if key in seen:
            continue
        seen.add(key)
        payment = payments[(item.event.provider, item.event.payment_key)]
        candidates.append(_event_row(item, payment.id, Outcome.APPLIED))
    inserted = session.execute(
        insert(PaymentEvent).on_conflict_do_nothing().returning(PaymentEvent.entry_id),
        candidates,
    ).scalars()
    return set(inserted)


def _run_state_machine(
    items: list[Item], payments: dict[tuple[str, str], _PaymentState], first_of_key: set[str]
) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for item in items:
        event = item.event
        payment = payments[(event.provider, event.payment_key)]
        _learn_attributes(payment, event)
        if item.entry_id not in first_of_key:
            outcomes[item.entry_id] = Outcome.DUPLICATE
            continue
        arrived = item.callback.received_at
        decision = decide(
            payment.status, event.status, current_arrived=payment.status_arrived, incoming_arrived=arrived
        )
        if decision.status != payment.status:
            payment.status, payment.status_arrived = decision.status, arrived
            payment.changed = True
        outcomes[item.entry_id] = decision.outcome
    return outcomes


def _learn_attributes(payment: _PaymentState, event: CanonicalEvent) -> None:
    """Fill in what the payment did not know yet; a refund's amount is never the payment's amount."""
    if payment.order_ref is None and event.order_ref is not None:
        payment.order_ref = event.order_ref
        payment.changed = True
    if payment.provider_payment_id is None and event.provider_payment_id is not None:
        payment.provider_payment_id = event.provider_payment_id
        payment.changed = True
    if payment.amount is None and event.amount_kind is AmountKind.PAYMENT and event.amount is not None:
        payment.amount, payment.currency = event.amount, event.currency
        payment.changed = True


def _record_outcomes(
    session: Session,
    items: list[Item],
    payments: dict[tuple[str, str], _PaymentState],
    first_of_key: set[str],
    outcomes: dict[str, Outcome],
) -> None:
    duplicates = [
        _event_row(item, payments[(item.event.provider, item.event.payment_key)].id, Outcome.DUPLICATE)
        for item in items
        if outcomes[item.entry_id] is Outcome.DUPLICATE
    ]
    if duplicates:
        # A redelivered entry conflicts on entry_id here and is skipped: it was recorded the first time.
        session.execute(insert(PaymentEvent).on_conflict_do_nothing(), duplicates)
    corrections = [
        {"b_entry": entry_id, "b_outcome": outcome}
        for entry_id, outcome in outcomes.items()
        if entry_id in first_of_key and outcome is not Outcome.APPLIED
    ]
    if corrections:
        events = cast(Table, PaymentEvent.__table__)
        result = cast(
            CursorResult[Any],
            session.execute(
                update(events).where(events.c.entry_id == bindparam("b_entry")).values(outcome=bindparam("b_outcome")),
                corrections,
            ),
        )
        if result.rowcount != len(corrections):
            raise DedupInvariantBroken(f"updated {result.rowcount} of {len(corrections)} event outcomes")


def _update_payments(session: Session, payments: dict[tuple[str, str], _PaymentState]) -> None:
    changed = [
        {
            "b_id": p.id,
            "b_status": p.status or p.created_as,
            "b_status_received_at": datetime.fromtimestamp(p.status_arrived, UTC) if p.status_arrived else None,
            "b_amount": p.amount,
            "b_currency": p.currency,
            "b_order_ref": p.order_ref,
            "b_provider_payment_id": p.provider_payment_id,
        }
        for p in payments.values()
        if p.changed
    ]
    if not changed:
        return
    table = cast(Table, Payment.__table__)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            status_received_at=bindparam("b_status_received_at"),
            amount=bindparam("b_amount"),
            currency=bindparam("b_currency"),
            order_ref=bindparam("b_order_ref"),
            provider_payment_id=bindparam("b_provider_payment_id"),
            updated_at=func.now(),
        ),
        changed,
    )
