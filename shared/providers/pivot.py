"""Pivot Payment (Indonesia): callbacks authenticated by a shared Callback API Key in ``X-API-Key``.

Pivot sends no event id; the natural keys below come from its documentation. Refund events carry a refund
object that names its payment session, and their amounts are decimal strings.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.canonical import AmountKind, CanonicalEvent, Status, UnknownEvent
from shared.providers import Provider
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
    """Compares ``X-API-Key`` with every configured key in constant time (several during a rotation).

    Every key is compared, whether or not an earlier one matched, so the time taken says nothing about
    which key (or how much of one) was right.
    """

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(k.encode() for k in keys)

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        given = headers.get("x-api-key")
        if not given:
            return "X-API-Key is missing"
        candidate = given.encode("utf-8", errors="replace")
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return None if matched else "X-API-Key is wrong"


def configure(env: Mapping[str, str]) -> ApiKeyAuthenticator | None:
    """Keys separated by commas or whitespace: during a rotation, both the old and the new one."""
    keys = tuple(k for k in env.get(KEY_VARIABLE, "").replace(",", " ").split() if k)
    if not keys:
        return None
    return ApiKeyAuthenticator(keys)


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
        amount_kind=AmountKind.PAYMENT,
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
        amount=decimal_amount(get(doc, "data.amount.value"), "data.amount.value"),
        currency=currency(doc, "data.amount.currency"),
        amount_kind=AmountKind.REFUND,
        provider_payment_id=session_id,
        occurred_at=timestamp(doc, "data.updatedAt"),
    )


PROVIDER = Provider(name=NAME, kept_headers=("content-type",), configure=configure, normalize=normalize)
