"""Pivot's payment sessions and refunds as the stand-in holds them, and how its API shows them: the session
(amounts in whole rupiah, as numbers) with the charges its status implies, and refunds apart (amounts as
decimal strings)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.providers._standin.core import (
    ControlError,
    check_fields,
    choice,
    iso,
    merge_by_key,
    money,
    new_uuid,
    object_list,
    optional_text,
    parse_iso,
    text_field,
    whole,
)

SESSION_MINUTES = 15
STATUSES = (
    "REQUIRE_PAYMENT_METHOD",
    "REQUIRE_CONFIRMATION",
    "REQUIRE_ACTION",
    "ACTIVE",
    "PROCESSING",
    "CANCELLED",
    "EXPIRED",
    "INACTIVE",
    "PAID",
)
REASONS = ("REQUESTED_BY_CUSTOMER", "DUPLICATED", "VOID_SESSION", "CHARGE_FAILED", "FRAUDULENT")
REFUND_STATUSES = ("PENDING", "WAITING_BANK_TRANSFER", "SUCCESS", "FAILED", "CANCELLED")
FIELDS = (
    "id",
    "clientReferenceId",
    "amount",
    "currency",
    "status",
    "cancellationReason",
    "paymentType",
    "paymentMethod",
    "chargeDetails",
    "refunds",
    "createdAt",
)
REFUND_FIELDS = ("id", "amount", "status", "isFullAmount", "reason", "createdAt")
# The charge a session's status implies, and the failure code of a session cancelled for its charge.
_CHARGE_BY_STATUS = {"PAID": "SUCCESS", "PROCESSING": "PROCESSING", "REQUIRE_ACTION": "WAITING_FOR_USER_ACTION"}
_FAILED_CHARGE = {"CHARGE_FAILED": "DECLINED_BY_CHANNEL", "FRAUDULENT": "SUSPECTED_FRAUD"}


@dataclass
class Refund:
    id: str
    amount: Decimal
    status: str
    is_full_amount: bool
    reason: str
    created: float
    updated: float


@dataclass
class Session:
    id: str
    reference: str
    amount: int
    currency: str
    status: str
    payment_type: str
    payment_method: str | None
    reason: str | None
    created: float
    updated: float
    cancelled: float | None = None
    # Explicit charges (a MULTIPLE session's many); None: the status implies them.
    charges: list[dict[str, Any]] | None = None
    refunds: list[Refund] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "clientReferenceId": self.reference,
            "amount": {"value": self.amount, "currency": self.currency},
            "paymentType": self.payment_type,
            "paymentMethod": {"type": self.payment_method} if self.payment_method else None,
            "status": self.status,
            "investigationStatus": None,
            "createdAt": iso(self.created),
            "updatedAt": iso(self.updated),
            "expiryAt": iso(self.created + SESSION_MINUTES * 60),
            "cancelledAt": iso(self.cancelled) if self.cancelled is not None else None,
            "cancellationReason": self.reason,
            "chargeDetails": self.charge_views() or None,
        }

    def charge_views(self) -> list[dict[str, Any]]:
        if self.charges is not None:
            return [self._charge(index, c) for index, c in enumerate(self.charges)]
        failure = _FAILED_CHARGE.get(self.reason or "") if self.status == "CANCELLED" else None
        if failure is not None:
            return [self._charge(0, {"status": "FAILED", "failureCode": failure})]
        status = _CHARGE_BY_STATUS.get(self.status)
        return [self._charge(0, {"status": status})] if status else []

    def _charge(self, index: int, given: Mapping[str, Any]) -> dict[str, Any]:
        status = given.get("status", "SUCCESS")
        amount = {"value": given.get("amount", self.amount), "currency": self.currency}
        paid = status == "SUCCESS"
        return {
            "id": given.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.id}/charge/{index}")),
            "paymentSessionId": self.id,
            "paymentSessionClientReferenceId": self.reference,
            "amount": amount,
            "capturedAmount": amount if paid else None,
            "isCaptured": paid,
            "status": status,
            "paidAt": given.get("paidAt", iso(self.updated)) if paid else None,
            "failureCode": given.get("failureCode"),
            "failureMessage": given.get("failureMessage"),
            "createdAt": iso(self.created),
            "updatedAt": iso(self.updated),
        }

    def refund_view(self, r: Refund) -> dict[str, Any]:
        charges = [c for c in self.charge_views() if c["status"] == "SUCCESS"]
        return {
            "id": r.id,
            "clientReferenceId": self.reference,
            "paymentSessionId": self.id,
            "chargeId": charges[0]["id"] if charges else None,
            "capturedAmount": {"currency": self.currency, "value": f"{Decimal(self.amount):.2f}"},
            "isFullAmount": r.is_full_amount,
            "amount": {"currency": self.currency, "value": f"{r.amount:.2f}"},
            "status": r.status,
            "reason": r.reason,
            "createdAt": iso(r.created),
            "updatedAt": iso(r.updated),
        }


def new_session(fields: Mapping[str, Any], now: float, existing: Session | None) -> Session:
    check_fields(fields, FIELDS, "Pivot payment")
    created = parse_iso(fields["createdAt"], "createdAt") if "createdAt" in fields else None
    session = Session(
        id=text_field(fields, "id", new_uuid()),
        reference=text_field(fields, "clientReferenceId", limit=100),
        amount=whole(fields, "amount"),
        currency=text_field(fields, "currency", "IDR"),
        status=choice(fields, "status", STATUSES),
        payment_type=choice(fields, "paymentType", ("SINGLE", "MULTIPLE"), "SINGLE"),
        payment_method=optional_text(fields, "paymentMethod") if "paymentMethod" in fields else "QR",
        reason=_reason(fields),
        created=created or (existing.created if existing else now),
        updated=now,
        cancelled=now if fields.get("status") == "CANCELLED" else None,
    )
    session.charges = _charges(fields)
    session.refunds = [_refund(session, None, r, now) for r in object_list(fields, "refunds")]
    return session


def apply(s: Session, fields: Mapping[str, Any], now: float) -> None:
    """A PATCH: the fields given change; refunds given are added, or update the refund whose id they name."""
    check_fields(fields, FIELDS[1:], "Pivot payment")
    if "status" in fields:
        s.status = choice(fields, "status", STATUSES)
        s.cancelled = now if s.status == "CANCELLED" else None
    if "clientReferenceId" in fields:
        s.reference = text_field(fields, "clientReferenceId", limit=100)
    if "amount" in fields:
        s.amount = whole(fields, "amount")
    if "cancellationReason" in fields:
        s.reason = _reason(fields)
    if "chargeDetails" in fields:
        s.charges = _charges(fields)
    if "refunds" in fields:
        given = object_list(fields, "refunds")
        s.refunds = merge_by_key(s.refunds, given, "id", lambda r: r.id, lambda r, f: _refund(s, r, f, now))
    s.updated = now


def _refund(s: Session, current: Refund | None, fields: Mapping[str, Any], now: float) -> Refund:
    check_fields(fields, REFUND_FIELDS, "Pivot refund")
    if "amount" in fields:
        amount = money(fields["amount"], "refunds[].amount")
    elif current is not None:
        amount = current.amount
    else:
        raise ControlError(400, "a new refund needs an amount")
    full = fields.get("isFullAmount", amount == s.amount)
    if not isinstance(full, bool):
        raise ControlError(400, "isFullAmount must be true or false")
    created = current.created if current else now
    return Refund(
        id=str(fields.get("id") or (current.id if current else new_uuid())),
        amount=amount,
        status=choice(fields, "status", REFUND_STATUSES, current.status if current else "SUCCESS"),
        is_full_amount=full,
        reason=str(fields.get("reason", current.reason if current else "REQUESTED_BY_CUSTOMER")),
        created=parse_iso(fields["createdAt"], "createdAt") if "createdAt" in fields else created,
        updated=now,
    )


def _reason(fields: Mapping[str, Any]) -> str | None:
    return None if fields.get("cancellationReason") is None else choice(fields, "cancellationReason", REASONS)


def _charges(fields: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    return object_list(fields, "chargeDetails") if fields.get("chargeDetails") is not None else None
