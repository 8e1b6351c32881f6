"""The schema's own guarantees, on the real PostgreSQL: a payment per provider, account and payment key; one
event per natural key may change state (repeats are kept as duplicates); statuses stored as their words. The
SQL-text helpers first, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.canonical import Outcome, Status
from shared.db.models import Payment, PaymentEvent, sql_in, sql_word


def test_fixed_words_as_sql_text() -> None:
    assert sql_word("paid") == "'paid'"
    assert sql_in(["pending", "sending"]) == "('pending', 'sending')"
    assert sql_in([]) == "()"


def _payment(account: str = "default") -> Payment:
    return Payment(provider="pivot", account=account, payment_key="ps-1", status=Status.PENDING)


def _event(payment_id: int, entry: str, outcome: Outcome) -> PaymentEvent:
    now = datetime.now(UTC)
    return PaymentEvent(
        payment_id=payment_id,
        entry_id=entry,
        provider="pivot",
        event_type="PAYMENT.PAID",
        event_key="PAYMENT.PAID:ps-1:PAID",
        status=Status.PAID,
        outcome=outcome,
        received_at=now,
        raw=b"{}",
    )


@pytest.mark.integration
def test_one_payment_per_provider_account_and_key(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add_all([_payment(), _payment("shop")])
    with Session(engine) as session, pytest.raises(IntegrityError), session.begin():
        session.add(_payment("shop"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status::text FROM payments ORDER BY id")).scalars().all() == [
            "pending",
            "pending",
        ]


@pytest.mark.integration
def test_one_event_per_natural_key_changes_state_and_duplicates_are_kept(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        payment = _payment()
        session.add(payment)
        session.flush()
        session.add(_event(payment.id, "1-0", Outcome.APPLIED))
        session.flush()
        session.add_all([_event(payment.id, "2-0", Outcome.DUPLICATE), _event(payment.id, "3-0", Outcome.DUPLICATE)])
        payment_id = payment.id
    with Session(engine) as session, pytest.raises(IntegrityError), session.begin():
        session.add(_event(payment_id, "4-0", Outcome.STALE))
    with Session(engine) as session, pytest.raises(IntegrityError), session.begin():
        session.add(_event(payment_id, "1-0", Outcome.DUPLICATE))  # the same queue entry twice
    with Session(engine) as session:
        outcomes = session.scalars(select(PaymentEvent.outcome).order_by(PaymentEvent.id)).all()
    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE, Outcome.DUPLICATE]
