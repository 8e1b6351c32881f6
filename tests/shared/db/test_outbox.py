"""The outbox's consumers and deliveries as operators manage them, on the real PostgreSQL: endpoints added,
changed, rotated and removed; deliveries listed by filter, retried (all but one being sent), counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from shared.canonical import CanonicalEvent, DeliveryStatus, Outcome, Status
from shared.db import outbox
from shared.db.models import Delivery
from shared.db.outbox_events import Change, PaymentView, write
from shared.sealing import Sealer

pytestmark = pytest.mark.integration


def test_filters_keep_only_what_is_set() -> None:
    assert outbox.DeliveryFilters().to_document() == {}
    assert outbox.DeliveryFilters(3, DeliveryStatus.FAILED).to_document() == {"endpoint_id": 3, "status": "failed"}


def _changes(*payment_ids: int) -> list[Change]:
    event = CanonicalEvent("pivot", "PAYMENT.PAID", "k", "ps", "o", Status.PAID, Decimal(1), "IDR", "ps", None)
    view = [PaymentView(i, "o", "ps", Decimal(1), "IDR") for i in payment_ids]
    return [Change(event, 1.0, v, Status.PENDING, Status.PAID, Outcome.APPLIED) for v in view]


def test_an_endpoint_is_added_changed_rotated_and_removed(engine: Engine) -> None:
    sealer = Sealer()
    with Session(engine) as session, session.begin():
        added = outbox.add_endpoint(session, sealer, "http://127.0.0.1:9/hook", "s1", ["payment.paid"], "pivot")
        changed = outbox.change_endpoint(session, added, {"enabled": False})
        assert changed.disabled_reason == "disabled by an operator"
        assert outbox.change_endpoint(session, changed, {"enabled": True}).disabled_reason is None
        until = outbox.rotate_secret(session, sealer, changed, "s2", keep_seconds=60)
        assert changed.secret == b"s2" and changed.previous_secret == b"s1"
        assert timedelta(seconds=50) < until - datetime.now(UTC) <= timedelta(seconds=60)
        endpoint_id = added.id
    with Session(engine) as session, session.begin():
        assert [e.id for e in outbox.endpoints(session)] == [endpoint_id]
        assert outbox.remove_endpoint(session, endpoint_id) and not outbox.remove_endpoint(session, endpoint_id)
        assert outbox.endpoint(session, endpoint_id) is None


def test_deliveries_are_listed_by_filter_retried_and_counted(engine: Engine) -> None:
    sealer = Sealer()
    with Session(engine) as session, session.begin():
        first = outbox.add_endpoint(session, sealer, "http://127.0.0.1:9/a", "s", None, None).id
        second = outbox.add_endpoint(session, sealer, "http://127.0.0.1:9/b", "s", ["payment.refunded"], None).id
        assert write(session, _changes(1, 2, 3)) == 3  # the second endpoint takes no paid events
    with Session(engine) as session, session.begin():
        ids = outbox.matching_deliveries(session, outbox.DeliveryFilters(endpoint_id=first))
        assert len(ids) == 3 and outbox.matching_deliveries(session, outbox.DeliveryFilters(second)) == []
        statuses = [DeliveryStatus.FAILED, DeliveryStatus.DELIVERED, DeliveryStatus.SENDING]
        for delivery_id, status in zip(ids, statuses, strict=True):
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(status=status, attempts=4))
    with Session(engine) as session, session.begin():
        assert outbox.count_by_status(session) == {"failed": 1, "delivered": 1, "sending": 1}
        page = outbox.deliveries(session, outbox.DeliveryFilters(), limit=2)
        assert [d.id for d, _ in page] == [ids[2], ids[1]]
        assert [d.id for d, _ in outbox.deliveries(session, outbox.DeliveryFilters(), limit=2, before=ids[1])] == [
            ids[0]
        ]
        assert outbox.retry(session, ids) == ids[:2] and outbox.retry(session, []) == []
    with Session(engine) as session:
        found = outbox.delivery(session, ids[0])
        assert found is not None and found[0].status == DeliveryStatus.PENDING and found[0].attempts == 0
        assert found[2] == [] and outbox.delivery(session, 10**9) is None
        assert outbox.count_by_status(session) == {"pending": 2, "sending": 1}
