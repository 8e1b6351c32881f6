"""The stand-in's Pivot sessions as data: made from the control API's fields, patched, and shown as Pivot's
API shows them (the charges a status implies, refunds with decimal amounts). No I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.providers._standin.core import ControlError, iso
from shared.providers._standin.pivot_state import SESSION_MINUTES, apply, new_session

NOW = 1_750_000_000.0


def _paid() -> dict[str, object]:
    return {"id": "ps-1", "clientReferenceId": "order-1", "amount": 10000, "status": "PAID"}


def test_a_paid_session_shows_one_successful_charge_of_its_amount() -> None:
    view = new_session(_paid(), NOW, None).view()
    assert view["amount"] == {"value": 10000, "currency": "IDR"} and view["status"] == "PAID"
    [charge] = view["chargeDetails"]
    assert charge["status"] == "SUCCESS" and charge["isCaptured"] is True and charge["paidAt"] == view["updatedAt"]
    assert charge["id"] == new_session(_paid(), NOW + 5, None).view()["chargeDetails"][0]["id"]  # stable ids
    assert view["expiryAt"] == iso(NOW + SESSION_MINUTES * 60) and view["createdAt"] == iso(NOW)


@pytest.mark.parametrize(
    ("status", "reason", "charge"),
    [
        ("ACTIVE", None, None),
        ("PROCESSING", None, "PROCESSING"),
        ("CANCELLED", "CHARGE_FAILED", "FAILED"),
        ("CANCELLED", "REQUESTED_BY_CUSTOMER", None),
    ],
)
def test_the_charge_a_status_implies(status: str, reason: str | None, charge: str | None) -> None:
    fields = {**_paid(), "status": status, "cancellationReason": reason}
    charges = new_session(fields, NOW, None).view()["chargeDetails"]
    assert (charges[0]["status"] if charges else None) == charge


def test_a_patch_changes_what_it_names_and_merges_refunds_by_id() -> None:
    session = new_session(_paid(), NOW, None)
    apply(session, {"refunds": [{"id": "r1", "amount": "2500.50"}]}, NOW + 10)
    apply(session, {"refunds": [{"id": "r1", "status": "PENDING"}, {"amount": 10000}]}, NOW + 20)
    first, second = session.refunds
    assert (first.id, first.amount, first.status, first.is_full_amount) == ("r1", Decimal("2500.50"), "PENDING", False)
    assert second.is_full_amount and second.status == "SUCCESS"
    view = session.refund_view(first)
    assert view["amount"] == {"currency": "IDR", "value": "2500.50"}
    assert view["chargeId"] == session.view()["chargeDetails"][0]["id"]
    apply(session, {"status": "CANCELLED"}, NOW + 30)
    assert session.cancelled == NOW + 30 and session.updated == NOW + 30


@pytest.mark.parametrize(
    "fields",
    [{"status": "SHIPPED"}, {"unknown": 1}, {"refunds": [{"status": "SUCCESS"}]}, {"createdAt": "soon"}],
    ids=["status", "field", "refund-without-amount", "time"],
)
def test_bad_fields_are_a_400(fields: dict[str, object]) -> None:
    with pytest.raises(ControlError) as caught:
        new_session({**_paid(), **fields}, NOW, None)
    assert caught.value.status == 400
