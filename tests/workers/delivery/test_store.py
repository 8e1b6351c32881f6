"""The delivery store: where an attempt's result moves its delivery (unit, no I/O: delivered, retried by the
schedule, failed once it is spent or the failure is permanent, kept pending behind a 410), then claims and
records on the real PostgreSQL (the head of each payment's deliveries first, at most so many in flight per
endpoint, the next one due as soon as its head is delivered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from shared.canonical import CanonicalEvent, DeliveryStatus, Outcome, Status
from shared.db import outbox
from shared.db.outbox_events import Change, PaymentView, write
from shared.sealing import Sealer
from workers.delivery import store
from workers.delivery.store import Claim, Result

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SCHEDULE = (10.0, 600.0)


def _claim(attempt: int) -> Claim:
    return Claim(1, attempt, 1, 1, "evt_1", b"{}", NOW, "webhook", "http://127.0.0.1:9/", None, ("s",))


def _result(attempt: int, **answer: object) -> Result:
    return Result(_claim(attempt), NOW, 5.0, **answer)  # type: ignore[arg-type]


def test_a_2xx_or_a_handler_without_error_is_delivered() -> None:
    assert store._next(_result(1, status_code=204), SCHEDULE, NOW) == (DeliveryStatus.DELIVERED, NOW, "delivered")
    assert store._next(_result(1), SCHEDULE, NOW)[0] is DeliveryStatus.DELIVERED


def test_a_failure_is_retried_by_the_schedule_until_it_is_spent() -> None:
    status, at, label = store._next(_result(1, status_code=500), SCHEDULE, NOW)
    assert (status, label) == (DeliveryStatus.PENDING, "retried")
    assert timedelta(seconds=10) <= at - NOW <= timedelta(seconds=11)
    _, later, _ = store._next(_result(2, error="timed out"), SCHEDULE, NOW)
    assert timedelta(seconds=600) <= later - NOW <= timedelta(seconds=660)
    assert store._next(_result(3, status_code=500), SCHEDULE, NOW) == (DeliveryStatus.FAILED, NOW, "failed")


def test_retry_after_permanent_failures_and_410() -> None:
    _, at, _ = store._next(_result(1, status_code=429, retry_after=120.0), SCHEDULE, NOW)
    assert at - NOW == timedelta(seconds=120)
    assert store._next(_result(1, error="host not allowed", permanent=True), SCHEDULE, NOW)[0] is DeliveryStatus.FAILED
    assert store._next(_result(1, status_code=410), SCHEDULE, NOW) == (DeliveryStatus.PENDING, NOW, "disabled")


def _event(payment_id: int) -> Change:
    event = CanonicalEvent("pivot", "PAYMENT.PAID", "k", "ps", "o", Status.PAID, Decimal(1), "IDR", "ps", None)
    view = PaymentView(payment_id, "o", "ps", Decimal(1), "IDR")
    return Change(event, 1.0, view, Status.PENDING, Status.PAID, Outcome.APPLIED)


def _setup(engine: Engine, payment_ids: list[int]) -> int:
    with Session(engine) as session, session.begin():
        endpoint = outbox.add_endpoint(session, Sealer(), "http://127.0.0.1:9/hook", "whsec_x", None, None)
        write(session, [_event(p) for p in payment_ids])
        return endpoint.id


def _claims(engine: Engine, limit: int = 10, per_endpoint: int = 10) -> list[Claim]:
    with Session(engine) as session, session.begin():
        return store.claim(session, Sealer(), limit=limit, per_endpoint=per_endpoint, lease_seconds=60)


@pytest.mark.integration
def test_only_the_head_of_a_payments_deliveries_is_claimed_and_the_next_follows_its_delivery(
    engine: Engine,
) -> None:
    _setup(engine, [1, 1, 2])  # two events of payment 1, in order, and one of payment 2
    first = _claims(engine)
    assert sorted(c.payment_id for c in first) == [1, 2] and all(c.secrets == ("whsec_x",) for c in first)
    assert _claims(engine) == []  # payment 1's second event waits behind its head
    head = next(c for c in first if c.payment_id == 1)
    with Session(engine) as session, session.begin():
        recorded = store.record(session, [Result(head, datetime.now(UTC), 3.0, status_code=200)], SCHEDULE)
    assert recorded.results == {"delivered": 1} and len(recorded.lags) == 1
    [following] = _claims(engine)
    assert following.payment_id == 1 and following.event_id != head.event_id


@pytest.mark.integration
def test_in_flight_deliveries_are_bounded_per_endpoint_and_a_410_disables_it(engine: Engine) -> None:
    endpoint_id = _setup(engine, [1, 2, 3])
    claimed = _claims(engine, per_endpoint=2)
    assert len(claimed) == 2 and _claims(engine, per_endpoint=2) == []
    with Session(engine) as session, session.begin():
        gone = [Result(c, datetime.now(UTC), 1.0, status_code=410) for c in claimed]
        assert store.record(session, gone, SCHEDULE).results == {"disabled": 2}
    with engine.connect() as conn:
        enabled, reason = conn.execute(
            text("SELECT enabled, disabled_reason FROM endpoints WHERE id = :i"), {"i": endpoint_id}
        ).one()
        assert not enabled and "410" in reason
        statuses = conn.execute(text("SELECT status, count(*) FROM deliveries GROUP BY status")).all()
    assert dict(statuses) == {"pending": 3}
    with Session(engine) as session:
        assert not store.any_due(session)
