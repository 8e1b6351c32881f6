"""Pivot Payment (Indonesia): callbacks authenticated by a shared Callback API Key in ``X-API-Key``.

Pivot sends no event id; the natural keys below come from its documentation. Refund events carry a refund
object that names its payment session, and their amounts are decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.canonical import CanonicalEvent, Status, UnknownEvent
from shared.providers import Header, Provider, Signer
from shared.providers._auth import SecretRing, kept_secret, secret_ring
from shared.providers._fields import currency, decimal_amount, get, parse_object, text, timestamp

NAME = "pivot"
KEY_VARIABLE = "PAYHOOK_PIVOT_CALLBACK_KEY"
TEST_EVENT = "PAYMENT.TEST"

_PAYMENT_EVENTS = {
    "PAYMENT.PROCESSING": Status.PROCESSING,
    "PAYMENT.PAID": Status.PAID,
    "PAYMENT.CANCELLED": Status.CANCELLED,
}
# A refund that is not (yet) complete leaves the payment paid: money moved, and has not come back.
_REFUND_EVENTS = {
    "REFUND.PENDING": None,
    "REFUND.WAITING_BANK_TRANSFER": None,
    "REFUND.FAILED": None,
    "REFUND.CANCELLED": None,
    "REFUND.SUCCESS": Status.REFUNDED,
}


class ApiKeyAuthenticator:
    """Compares ``X-API-Key`` with every configured key in constant time (several during a rotation)."""

    def __init__(self, keys: SecretRing) -> None:
        self._keys = keys

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        given = headers.get("x-api-key")
        if not given:
            return "X-API-Key is missing"
        return None if self._keys.holds(given) else "X-API-Key is wrong"


def configure(env: Mapping[str, str]) -> ApiKeyAuthenticator | None:
    """Keys separated by commas or whitespace: during a rotation, both the old and the new one."""
    keys = secret_ring(env, KEY_VARIABLE)
    return None if keys is None else ApiKeyAuthenticator(keys)


def test_signer(folder: Path) -> Signer:
    key = kept_secret(folder, "pivot-test-key")
    return Signer(key, lambda body: (body, {"X-API-Key": key, "Content-Type": "application/json"}))


def normalize(body: bytes) -> CanonicalEvent | None:
    doc = parse_object(body)
    event = text(doc, "event", max_length=64)
    if event == TEST_EVENT:
        return None
    if event in _PAYMENT_EVENTS or event == "CHARGE.SUCCESS":
        return _payment_event(doc, event)
    if event in _REFUND_EVENTS:
        return _refund_event(doc, event)
    raise UnknownEvent(f"unknown Pivot event {event!r}")


def _payment_event(doc: dict[str, Any], event: str) -> CanonicalEvent:
    session_id = text(doc, "data.id")
    session_status = text(doc, "data.status", max_length=64)
    if event == "CHARGE.SUCCESS":
        # One charge on a MULTIPLE session: the charge is the notification, the session stays ACTIVE.
        status = Status.PAID
        key = f"{event}:{_charge_id(doc)}"
    else:
        status = _PAYMENT_EVENTS[event]
        if event == "PAYMENT.CANCELLED" and session_status == "EXPIRED":
            status = Status.EXPIRED
        key = f"{event}:{session_id}:{session_status}"
    return CanonicalEvent(
        provider=NAME,
        event_type=event,
        event_key=key,
        payment_key=session_id,
        order_ref=text(doc, "data.clientReferenceId"),
        status=status,
        amount=decimal_amount(get(doc, "data.amount.value"), "data.amount.value"),
        currency=currency(doc, "data.amount.currency"),
        provider_payment_id=session_id,
        occurred_at=timestamp(doc, "data.updatedAt"),
    )


def _charge_time(charge: Any) -> datetime:
    if not isinstance(charge, dict):
        return datetime.min.replace(tzinfo=UTC)
    return timestamp(charge, "paidAt") or timestamp(charge, "updatedAt") or datetime.min.replace(tzinfo=UTC)


def _charge_id(doc: dict[str, Any]) -> str:
    charges = get(doc, "data.chargeDetails")
    if not isinstance(charges, list) or not charges:
        raise UnknownEvent("CHARGE.SUCCESS without data.chargeDetails")
    succeeded = [c for c in charges if isinstance(c, dict) and c.get("status") == "SUCCESS"]
    latest = max(succeeded or charges, key=_charge_time)
    if not isinstance(latest, dict):
        raise UnknownEvent("CHARGE.SUCCESS with a charge that is not an object")
    return text(latest, "id")


def _refund_event(doc: dict[str, Any], event: str) -> CanonicalEvent:
    refund_id = text(doc, "data.id")
    session_id = text(doc, "data.paymentSessionId")
    refund_status = text(doc, "data.status", max_length=64)
    status = _REFUND_EVENTS[event]
    if status is None:
        status = Status.PAID
    elif get(doc, "data.isFullAmount", required=False) is not True:
        status = Status.PARTIALLY_REFUNDED
    return CanonicalEvent(
        provider=NAME,
        event_type=event,
        event_key=f"{event}:{refund_id}:{refund_status}",
        payment_key=session_id,
        order_ref=None,
        status=status,
        amount=None,
        currency=currency(doc, "data.amount.currency"),
        refund_amount=decimal_amount(get(doc, "data.amount.value"), "data.amount.value"),
        provider_payment_id=session_id,
        occurred_at=timestamp(doc, "data.updatedAt"),
    )


PROVIDER = Provider(
    name=NAME,
    title="Pivot Payment (Indonesia)",
    credential=KEY_VARIABLE,
    configure=configure,
    normalize=normalize,
    auth_headers=(Header("X-API-Key", "the Callback API Key from Pivot's dashboard"),),
    kept_headers=("content-type",),
    statuses={
        **_PAYMENT_EVENTS,
        "PAYMENT.CANCELLED (data.status EXPIRED)": Status.EXPIRED,
        "CHARGE.SUCCESS": Status.PAID,
        **{event: status or Status.PAID for event, status in _REFUND_EVENTS.items()},
        "REFUND.SUCCESS (isFullAmount false)": Status.PARTIALLY_REFUNDED,
    },
    signature_covers=(),
    test_signer=test_signer,
    example="payment_paid",
    description=(
        "Pivot sends the Callback API Key in X-API-Key (it authenticates the sender, not the body). "
        "GET on the same URL answers 200: Pivot checks a callback URL when it is registered. "
        "PAYMENT.TEST is accepted and changes no payment."
    ),
    event_type_at=("event",),
    order_ref_at=("data.clientReferenceId", "data.paymentSessionId"),
)
