"""Revenue Monster's transactions as the stand-in holds them, how its API shows them, and the daily
settlement report built from them (amounts in sen everywhere but the report, which prints ringgit)."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.providers._standin.core import (
    ControlError,
    check_fields,
    choice,
    iso,
    object_list,
    optional_text,
    parse_iso,
    text_field,
    whole,
)

STATUSES = ("SUCCESS", "FAILED", "IN_PROCESS", "FULL_REFUNDED", "PARTIAL_REFUNDED", "REVERSED")
# Statuses of a transaction that was paid (and may have been refunded since).
PAID = ("SUCCESS", "FULL_REFUNDED", "PARTIAL_REFUNDED")
# [inferred] The checkout statuses are documented as SUCCESS, FAILED, CANCELLED, EXPIRED; one still open
# needs a word too, and IN_PROCESS is the transactions'.
CHECKOUT_STATUSES = ("SUCCESS", "FAILED", "CANCELLED", "EXPIRED", "IN_PROCESS")
FIELDS = (
    "transactionId",
    "orderId",
    "amount",
    "status",
    "balanceAmount",
    "refunds",
    "refundedAt",
    "checkoutId",
    "checkoutStatus",
    "createdAt",
    "transactionAt",
    "method",
    "title",
)
# [inferred] Settlement reports are by Malaysian business day (UTC+8): the docs do not name a time zone.
MALAYSIA = timezone(timedelta(hours=8))
# The documented sample prints the MDR as a rate ("0.70") and the fee, negative, in serviceFee.
MDR_PERCENT = Decimal("0.70")
MERCHANT = {
    "merchantId": "4118165203679668885",
    "merchantName": "payhook stand-in merchant",
    "storeId": "6170506694335521334",
    "storeName": "payhook stand-in store",
}
_CENT = Decimal("0.01")
_STORE = {"id": MERCHANT["storeId"], "name": MERCHANT["storeName"], "status": "ACTIVE", "countryCode": "60"}


@dataclass
class RmRefund:
    amount: int
    at: float


@dataclass
class RmTransaction:
    transaction_id: str
    order_id: str
    amount: int
    status: str | None
    method: str
    title: str
    created: float
    updated: float
    paid: float | None = None
    checkout_id: str | None = None
    checkout_status: str | None = None
    refunds: list[RmRefund] = field(default_factory=list)

    def balance(self) -> int:
        """Sales minus refunds: what a paid transaction still holds (nothing for one never paid)."""
        return self.amount - sum(r.amount for r in self.refunds) if self.status in PAID else 0

    def item(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "transactionId": self.transaction_id,
            "referenceId": f"P{self.transaction_id[-16:]}",
            "order": self.order(),
            "currencyType": "MYR",
            "finalAmount": self.amount,
            "balanceAmount": self.balance(),
            "method": self.method,
            "region": "MALAYSIA",
            "type": "WEB_PAYMENT",
            "platform": "OPEN_API",
            "status": self.status,
            "store": _STORE,
            "terminalId": "",
            "voucher": None,
            "createdAt": iso(self.created),
            "updatedAt": iso(self.updated),
        }
        if self.paid is not None and self.status in PAID:
            view["transactionAt"] = iso(self.paid)
        if self.status == "FAILED":
            view["error"] = {"message": "Payment failed"}
        return view

    def order(self) -> dict[str, Any]:
        return {"id": self.order_id, "title": self.title, "detail": "", "additionalData": "", "amount": self.amount}

    def notify_data(self) -> dict[str, Any]:
        """The partial transaction of a PAYMENT_WEB_ONLINE notification."""
        data = self.item()
        del data["finalAmount"]
        return {**data, "payee": {"userId": f"payee-{self.transaction_id[-8:]}"}}

    def checkout(self) -> dict[str, Any]:
        return {
            "id": self.checkout_id,
            "order": self.order(),
            "type": "WEB_PAYMENT",
            "transactionId": self.transaction_id if self.status else "",
            "platform": "OPEN_API",
            "method": [],
            "startAt": iso(self.created),
            "endAt": iso(self.created + 600),
            "status": self.checkout_status or _checkout_status(self.status),
            "createdAt": iso(self.created),
            "updatedAt": iso(self.updated),
        }


def _checkout_status(status: str | None) -> str:
    if status in PAID:
        return "SUCCESS"
    return "FAILED" if status in ("FAILED", "REVERSED") else "IN_PROCESS"


def new_transaction(fields: Mapping[str, Any], now: float, existing: RmTransaction | None) -> RmTransaction:
    check_fields(fields, FIELDS, "Revenue Monster payment")
    created = parse_iso(fields["createdAt"], "createdAt") if "createdAt" in fields else None
    transaction = RmTransaction(
        transaction_id=str(fields.get("transactionId") or _transaction_id(now)),
        order_id=text_field(fields, "orderId", limit=24),
        amount=whole(fields, "amount", low=1),
        status=None,
        method=text_field(fields, "method", "TNG"),
        title=text_field(fields, "title", "Order"),
        created=created or (existing.created if existing else now),
        updated=now,
    )
    if fields.get("status") is None and not fields.get("checkoutId"):
        raise ControlError(400, "status is required (only a checkout without a transaction may leave it out)")
    apply(transaction, fields, now)
    return transaction


def apply(t: RmTransaction, fields: Mapping[str, Any], now: float) -> None:
    """Changes from the control API. Refunds are recorded with their time, which puts them in that day's
    settlement report: given as ``refunds``, or as a lower ``balanceAmount`` (refunded at ``refundedAt``,
    else now), or by a FULL_REFUNDED status (the rest of the amount)."""
    check_fields(fields, FIELDS, "Revenue Monster payment")
    if fields.get("status") is not None:
        t.status = choice(fields, "status", STATUSES)
    if "checkoutId" in fields:
        t.checkout_id = optional_text(fields, "checkoutId")
    if "checkoutStatus" in fields:
        given = fields["checkoutStatus"]
        t.checkout_status = None if given is None else choice(fields, "checkoutStatus", CHECKOUT_STATUSES)
    t.method = text_field(fields, "method", t.method)
    t.title = text_field(fields, "title", t.title)
    if t.status in PAID and (t.paid is None or "transactionAt" in fields):
        t.paid = parse_iso(fields["transactionAt"], "transactionAt") if "transactionAt" in fields else now
    at = parse_iso(fields["refundedAt"], "refundedAt") if "refundedAt" in fields else now
    for given in object_list(fields, "refunds"):
        check_fields(given, ("amount", "at"), "Revenue Monster refund")
        when = parse_iso(given["at"], "refunds[].at") if "at" in given else at
        t.refunds.append(RmRefund(whole(given, "amount", low=1), when))
    if "balanceAmount" in fields:
        _refund_down_to(t, whole(fields, "balanceAmount"), at)
    elif t.status == "FULL_REFUNDED":
        _refund_down_to(t, 0, at)
    refunded = sum(r.amount for r in t.refunds)
    if "status" not in fields and t.status in PAID and refunded:
        # Refunding a paid transaction moves its status, as Revenue Monster's own would move.
        t.status = "FULL_REFUNDED" if refunded >= t.amount else "PARTIAL_REFUNDED"
    if t.status == "PARTIAL_REFUNDED" and not t.refunds:
        raise ControlError(400, "a PARTIAL_REFUNDED payment needs balanceAmount or refunds")
    if refunded > t.amount:
        raise ControlError(400, "refunds exceed the amount")
    t.updated = now


def _refund_down_to(t: RmTransaction, balance: int, at: float) -> None:
    refunded = t.amount - balance
    already = sum(r.amount for r in t.refunds)
    if balance > t.amount or refunded < already:
        raise ControlError(400, f"balanceAmount {balance} is above what is left ({t.amount - already})")
    if refunded > already:
        t.refunds.append(RmRefund(refunded - already, at))


def _transaction_id(now: float) -> str:
    """24 digits like Revenue Monster's: the time (yymmddHHMMSS), then twelve random digits."""
    stamp = datetime.fromtimestamp(now, MALAYSIA).strftime("%y%m%d%H%M%S")
    return stamp + "".join(secrets.choice("0123456789") for _ in range(12))


def ringgit(sen: int) -> str:
    return f"{(Decimal(sen) / 100).quantize(_CENT)}"


def report_rows(
    transactions: Iterable[RmTransaction], kind: str, day: date, methods: list[str], regions: list[str]
) -> list[dict[str, Any]]:
    """The settlement report of ``day``: PAYMENT lists what was paid that day, REFUND what was refunded."""
    rows: list[tuple[float, RmTransaction, int]] = []
    for t in transactions:
        if not _matches(t, methods, regions):
            continue
        if kind == "PAYMENT" and t.paid is not None and t.status in PAID and _day(t.paid) == day:
            rows.append((t.paid, t, t.amount))
        if kind == "REFUND":
            rows += [(r.at, t, r.amount) for r in t.refunds if _day(r.at) == day]
    return [_row(at, t, kind, sen) for at, t, sen in sorted(rows, key=lambda row: (row[0], row[1].transaction_id))]


def _row(at: float, t: RmTransaction, kind: str, sen: int) -> dict[str, Any]:
    gross = Decimal(sen) / 100
    # [inferred] A refund's row carries the refunded amount, positive, and no fee: the docs show payments only.
    fee = (gross * MDR_PERCENT / 100).quantize(_CENT, ROUND_HALF_UP) if kind == "PAYMENT" else Decimal(0)
    return {
        "transactionAt": iso(at),
        **MERCHANT,
        "region": "MALAYSIA",
        "method": t.method,
        "transactionType": kind,
        "type": "WEB_PAYMENT",
        "transactionId": t.transaction_id,
        "orderId": t.order_id,
        "currencyType": "MYR",
        "grossAmount": f"{gross.quantize(_CENT)}",
        "mdr": f"{MDR_PERCENT}" if kind == "PAYMENT" else "0.00",
        "serviceFee": f"-{fee}",
        "settlementAmount": f"{(gross - fee).quantize(_CENT)}",
    }


def _day(unix: float) -> date:
    return datetime.fromtimestamp(unix, MALAYSIA).date()


def _matches(t: RmTransaction, methods: list[str], regions: list[str]) -> bool:
    # [inferred] Requests name methods as the checkout does ("TNG_MY"), rows as transactions do ("TNG").
    names = {m.upper().removesuffix("_MY").removesuffix("_CN") for m in methods}
    return (not names or t.method.upper() in names) and (not regions or "MALAYSIA" in {r.upper() for r in regions})


def page(rows: list[dict[str, Any]], cursor: str, size: int) -> tuple[list[dict[str, Any]], str]:
    """One page of the report from an opaque cursor, and the next cursor ("" after the last page)."""
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("offset:"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ValueError("cursor") from None
    end = start + size
    following = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(rows) else ""
    return rows[start:end], following
