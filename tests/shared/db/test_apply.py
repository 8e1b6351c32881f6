"""Applying a batch in one transaction on the real PostgreSQL: outcomes by arrival order (applied, duplicate,
stale, conflict), the payment's status and its next query, one outbox event per change; a callback that waits
for confirmation changes nothing but asks at once; two accounts keep their payments apart."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from shared.canonical import CanonicalEvent, Outcome, Status
from shared.db.apply import Item, Policy, apply_events
from shared.queue import QueuedCallback
from shared.sealing import Sealer

pytestmark = pytest.mark.integration
NOW = 1_750_000_000.0


def _item(
    entry: str, status: Status, key: str | None = None, *, account: str = "default", unconfirmed: bool = False
) -> Item:
    event = CanonicalEvent(
        "pivot", f"PAYMENT.{status.name}", key or f"k-{status}", "ps-1", "order-1", status, Decimal("10.00"),
        "IDR", "ps-1", None,
    )  # fmt: skip
    callback = QueuedCallback("pivot", b"{}", {}, NOW, account)
    return Item(entry, event, callback, unconfirmed=unconfirmed)


def _apply(engine: Engine, *items: Item) -> dict[str, Outcome]:
    with Session(engine) as session, session.begin():
        return apply_events(session, list(items), Sealer(), Policy(now=NOW)).by_entry


def _payments(engine: Engine) -> list[tuple[str, str, datetime | None]]:
    with engine.connect() as conn:
        query = "SELECT account, status::text, next_check_at FROM payments ORDER BY account"
        return [tuple(row) for row in conn.execute(text(query))]


def test_outcomes_follow_arrival_and_the_state_machine(engine: Engine) -> None:
    outcomes = _apply(
        engine,
        _item("1-0", Status.PENDING),
        _item("2-0", Status.PAID),
        _item("3-0", Status.PAID),  # same natural key: a duplicate
        _item("4-0", Status.PENDING, "k-late"),  # a late pending: stale
    )
    assert outcomes == {"1-0": Outcome.APPLIED, "2-0": Outcome.APPLIED, "3-0": Outcome.DUPLICATE, "4-0": Outcome.STALE}
    [(account, status, next_check)] = _payments(engine)
    assert (account, status, next_check) == ("default", "paid", None)  # final: no query planned
    with engine.connect() as conn:
        types = conn.execute(text("SELECT type FROM outbox_events ORDER BY id")).scalars().all()
    assert types == ["payment.pending", "payment.paid"]
    assert _apply(engine, _item("2-0", Status.PAID)) == {"2-0": Outcome.DUPLICATE}  # a redelivered entry


def test_a_pending_payment_is_queried_by_the_schedule(engine: Engine) -> None:
    _apply(engine, _item("1-0", Status.PENDING))
    [(_, status, next_check)] = _payments(engine)
    assert status == "pending" and next_check == datetime.fromtimestamp(NOW + 60.0, UTC)


def test_an_unconfirmed_callback_changes_nothing_and_asks_at_once(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        applied = apply_events(session, [_item("1-0", Status.PAID, unconfirmed=True)], Sealer(), Policy(now=NOW))
    assert applied.by_entry == {"1-0": Outcome.UNCONFIRMED} and applied.confirmations == 1 and applied.deliveries == 0
    [(_, status, _)] = _payments(engine)
    assert status == "pending"


def test_two_accounts_keep_their_payments_apart(engine: Engine) -> None:
    outcomes = _apply(engine, _item("1-0", Status.PAID), _item("2-0", Status.PAID, account="shop"))
    assert set(outcomes.values()) == {Outcome.APPLIED}
    assert [(a, s) for a, s, _ in _payments(engine)] == [("default", "paid"), ("shop", "paid")]
