"""Writing the outbox: one event per applied change or conflict, in the transaction that makes it; nothing for
duplicates and stale events. The event's body (``body``) is checked alone first, without I/O."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from shared.canonical import CanonicalEvent, Outcome, Status
from shared.db import outbox_events
from shared.db.apply import Item, apply_events
from shared.db.outbox_events import Change, PaymentView
from shared.providers import all_providers
from shared.queue import QueuedCallback
from shared.settings import Settings
from tests.support.hooks import Answer, Endpoint
from tests.support.outbox import add_endpoint, deliver_until
from tests.support.pipeline import drain_all, pivot_event, pivot_refund, post, rows, scalar
from workers import maintenance
from workers.context import WorkerContext

NOW = datetime(2025, 7, 1, 2, 0, 5, tzinfo=UTC)


def _change(now: Status, previous: Status | None, outcome: Outcome, **event: Any) -> Change:
    fields: dict[str, Any] = {
        "provider": "pivot",
        "event_type": "PAYMENT.PAID",
        "event_key": "k",
        "payment_key": "ps-1",
        "order_ref": "order-1",
        "status": now,
        "amount": Decimal("10000.50"),
        "currency": "IDR",
        "provider_payment_id": "ps-1",
        "occurred_at": datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
        **event,
    }
    view = PaymentView(7, "order-1", "ps-1", Decimal("10000.50"), "IDR")
    return Change(CanonicalEvent(**fields), 1_751_335_205.25, view, previous, now, outcome, account="shop")


def test_the_body_of_a_change_names_the_payment_and_both_statuses() -> None:
    doc = orjson.loads(outbox_events.body(_change(Status.PAID, Status.PENDING, Outcome.APPLIED), "evt_1", NOW))
    assert doc == {
        "id": "evt_1",
        "type": "payment.paid",
        "timestamp": "2025-07-01T02:00:05Z",
        "data": {
            "provider": "pivot",
            "order_ref": "order-1",
            "provider_payment_id": "ps-1",
            "payment_key": "ps-1",
            "status": "paid",
            "previous_status": "pending",
            "amount": "10000.50",
            "currency": "IDR",
            "conflict": False,
            "provider_event_type": "PAYMENT.PAID",
            "occurred_at": "2025-07-01T09:00:00Z",
            "received_at": "2025-07-01T02:00:05.250000Z",
            "source": "callback",
            "account": "shop",
        },
    }


def test_a_conflict_that_changes_nothing_is_a_conflict_event_naming_the_status_it_refused() -> None:
    change = _change(Status.REFUNDED, Status.REFUNDED, Outcome.CONFLICT, status=Status.PAID)
    doc = orjson.loads(outbox_events.body(change, "evt_2", NOW))
    assert doc["type"] == "payment.conflict"
    assert doc["data"]["conflict"] is True and doc["data"]["conflicting_status"] == "paid"
    assert doc["data"]["refund_amount"] is None


def test_a_refund_carries_its_amount_and_a_missing_time_is_null() -> None:
    change = _change(
        Status.PARTIALLY_REFUNDED, Status.PAID, Outcome.APPLIED, refund_amount=Decimal("500.00"), occurred_at=None
    )
    doc = orjson.loads(outbox_events.body(change, "evt_3", NOW))
    assert doc["type"] == "payment.partially_refunded"
    assert doc["data"]["refund_amount"] == "500.00" and doc["data"]["occurred_at"] is None
    assert "conflicting_status" not in doc["data"]


def _events(engine: Engine) -> list[dict[str, Any]]:
    return [orjson.loads(r.body) for r in rows(engine, "SELECT body FROM outbox_events ORDER BY id")]


@pytest.mark.integration
def test_changes_make_events_and_duplicates_and_stale_ones_do_not(
    settings: Settings, engine: Engine, web: TestClient
) -> None:
    processing = pivot_event("PAYMENT.PROCESSING", "ps-1", "order-1", "PROCESSING")
    paid = pivot_event("PAYMENT.PAID", "ps-1", "order-1", "PAID")
    for body in (processing, paid, paid, processing):  # a duplicate, then a late (stale) processing
        post(web, "pivot", body)
    drain_all(settings)
    events = _events(engine)
    assert [e["type"] for e in events] == ["payment.processing", "payment.paid"]
    first, second = events
    assert first["data"]["previous_status"] is None
    assert second["data"]["previous_status"] == "processing"
    assert second["data"] | {"received_at": None, "occurred_at": None} == {
        "provider": "pivot",
        "order_ref": "order-1",
        "provider_payment_id": second["data"]["provider_payment_id"],
        "payment_key": "ps-1",
        "status": "paid",
        "previous_status": "processing",
        "amount": second["data"]["amount"],
        "currency": "IDR",
        "conflict": False,
        "provider_event_type": "PAYMENT.PAID",
        "received_at": None,
        "occurred_at": None,
        "source": "callback",
        "account": "default",
    }
    assert second["id"].startswith("evt_") and second["timestamp"].endswith("Z")
    assert "refund_amount" not in second["data"]
    assert scalar(engine, "SELECT count(*) FROM payment_events") == 4


@pytest.mark.integration
def test_a_late_paid_is_a_paid_event_marked_conflict_and_a_lost_clash_is_a_conflict_event(
    settings: Settings, engine: Engine, web: TestClient
) -> None:
    post(web, "pivot", pivot_event("PAYMENT.CANCELLED", "ps-a", "order-a", "CANCELLED"))
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-a", "order-a", "PAID"))
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-b", "order-b", "PAID"))
    post(web, "pivot", pivot_event("PAYMENT.CANCELLED", "ps-b", "order-b", "CANCELLED"))
    drain_all(settings)
    by_order: dict[str, list[dict[str, Any]]] = {}
    for event in _events(engine):
        by_order.setdefault(event["data"]["order_ref"], []).append(event)
    a_cancelled, a_paid = by_order["order-a"]
    assert (a_cancelled["type"], a_paid["type"]) == ("payment.cancelled", "payment.paid")
    assert a_paid["data"]["conflict"] is True
    assert a_paid["data"]["previous_status"] == "cancelled"
    b_paid, b_conflict = by_order["order-b"]
    assert (b_paid["type"], b_conflict["type"]) == ("payment.paid", "payment.conflict")
    assert b_conflict["data"]["status"] == "paid"
    assert b_conflict["data"]["conflicting_status"] == "cancelled"


@pytest.mark.integration
def test_a_refund_before_its_payment_has_no_order_ref_and_carries_the_refund_amount(
    settings: Settings, engine: Engine, web: TestClient
) -> None:
    post(web, "pivot", pivot_refund("ps-r", "rf-1", full=False, value="500.00"))
    drain_all(settings)
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-r", "order-r", "PAID"))
    drain_all(settings)
    events = _events(engine)
    assert [e["type"] for e in events] == ["payment.partially_refunded"]
    assert events[0]["data"]["order_ref"] is None
    assert events[0]["data"]["refund_amount"] == "500.00"


@pytest.mark.integration
def test_the_event_and_its_delivery_are_in_the_changes_transaction(settings: Settings, engine: Engine) -> None:
    """No event without its change, no change without its event: a batch that rolls back leaves neither."""

    add_endpoint(settings, "http://127.0.0.1:9/hooks")
    body = pivot_event("PAYMENT.PAID", "ps-t", "order-t", "PAID")
    event = all_providers()["pivot"].normalize(body)
    assert event is not None
    item = Item("1-0", event, QueuedCallback("pivot", body, {}, 1.0))
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        session = ctx.sessions()
        with session.begin():
            applied = apply_events(session, [item], ctx.sealer)
            assert applied.deliveries == 1
            assert scalar_in(session, "SELECT count(*) FROM outbox_events") == 1
            session.rollback()  # the batch's commit fails
        session.close()
        assert scalar(engine, "SELECT count(*) FROM payments") == 0
        assert scalar(engine, "SELECT count(*) FROM outbox_events") == 0
        assert scalar(engine, "SELECT count(*) FROM deliveries") == 0
        with ctx.sessions.begin() as session:
            apply_events(session, [item], ctx.sealer)
        assert scalar(engine, "SELECT count(*) FROM outbox_events") == 1
        assert scalar(engine, "SELECT count(*) FROM deliveries") == 1
        # The same entry again (a redelivery after a crash between commit and acknowledgement): nothing new.
        with ctx.sessions.begin() as session:
            assert apply_events(session, [item], ctx.sealer).deliveries == 0
        assert scalar(engine, "SELECT count(*) FROM outbox_events") == 1
    finally:
        ctx.close()


def scalar_in(session: Any, sql: str) -> Any:
    return session.execute(text(sql)).scalar_one()


@pytest.mark.integration
def test_the_log_is_pruned_after_delivery_to_every_consumer_and_the_retention(
    settings: Settings, engine: Engine, web: TestClient
) -> None:

    with Endpoint() as good, Endpoint(lambda _r, _n: Answer(500)) as bad:
        add_endpoint(settings, good.url)
        add_endpoint(settings, bad.url, events=["payment.paid"])
        post(web, "pivot", pivot_event("PAYMENT.PROCESSING", "ps-p", "order-p", "PROCESSING"))
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-p", "order-p", "PAID"))
        drain_all(settings)
        fast = Settings.from_env({**settings.environ, "PAYHOOK_DELIVERY_RETRY_SCHEDULE": "0.1"})
        deliver_until(fast, lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'pending'") == 0)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox_events SET created_at = now() - interval '8 days'")
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        # processing: delivered to its only consumer, pruned; paid: failed at one consumer, kept (retryable).
        assert maintenance.prune_outbox(ctx, force=True) == 1
    finally:
        ctx.close()
    assert [r.type for r in rows(engine, "SELECT type FROM outbox_events")] == ["payment.paid"]
    assert scalar(engine, "SELECT count(*) FROM deliveries") == 2
    assert (
        scalar(engine, "SELECT count(*) FROM delivery_attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)")
        == 0
    )


@pytest.mark.integration
def test_an_endpoint_of_one_account_gets_only_that_accounts_events(settings: Settings, engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from shared.ops.service import OperatorService

    ops = OperatorService(settings, pool_size=1)
    try:
        shop = ops.add_endpoint("https://hooks.merchant.invalid/shop", None, "pivot", actor="t", account="shop")
        other = ops.add_endpoint("https://hooks.merchant.invalid/other", None, None, actor="t", account="other")
        every = ops.add_endpoint("https://hooks.merchant.invalid/all", None, None, actor="t")
        assert (shop["account"], other["account"], every["account"]) == ("shop", "other", None)
        with pytest.raises(Exception, match="account's name"):
            ops.add_endpoint("https://hooks.merchant.invalid/x", None, None, actor="t", account="Not A Name")
    finally:
        ops.close()
    with Session(engine) as session, session.begin():
        outbox_events.write(session, [_change(Status.PAID, Status.PENDING, Outcome.APPLIED)])  # account "shop"
    sent = rows(engine, "SELECT endpoint_id FROM deliveries ORDER BY endpoint_id")
    assert [r.endpoint_id for r in sent] == [shop["id"], every["id"]]
