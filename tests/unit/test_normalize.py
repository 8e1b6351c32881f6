"""Normalizers: every sample, exact amounts, the contract's status mapping, variations and bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.canonical import (
    AmountKind,
    CanonicalEvent,
    InvalidAmount,
    InvalidJson,
    MissingField,
    NormalizeError,
    Status,
    UnknownEvent,
    UnknownStatus,
)
from shared.providers import all_providers
from tests.support import SAMPLES

PIVOT_STATUS = {
    "PAYMENT.PROCESSING": Status.PROCESSING,
    "PAYMENT.PAID": Status.PAID,
    "PAYMENT.CANCELLED": Status.CANCELLED,
    "CHARGE.SUCCESS": Status.PAID,
}


def _normalize(provider: str, doc: dict[str, Any]) -> CanonicalEvent | None:
    return all_providers()[provider].normalize(json.dumps(doc).encode())


def _provider_of(path: Path) -> str:
    return path.name.split(".")[0]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_sample_normalizes_to_its_payment(path: Path) -> None:
    doc = json.loads(path.read_bytes())
    provider = _provider_of(path)
    event = all_providers()[provider].normalize(path.read_bytes())
    if doc.get("event") == "PAYMENT.TEST":
        assert event is None
        return
    assert event is not None
    assert event.provider == provider
    data = doc["data"]
    if provider == "pivot" and doc["event"].startswith("REFUND."):
        assert event.payment_key == data["paymentSessionId"]
        assert event.amount == Decimal(data["amount"]["value"])
        assert event.amount_kind is AmountKind.REFUND
        expected = Status.REFUNDED if data["isFullAmount"] else Status.PARTIALLY_REFUNDED
        assert event.status is expected
    elif provider == "pivot":
        assert event.order_ref == data["clientReferenceId"]
        assert event.payment_key == data["id"]
        assert event.amount == Decimal(data["amount"]["value"])
        assert event.currency == data["amount"]["currency"]
        assert event.status is PIVOT_STATUS[doc["event"]]
    else:
        order = data.get("order", {})
        assert event.order_ref == order.get("id", data.get("orderId"))
        sen = order.get("amount", data.get("amount"))
        assert event.amount == Decimal(sen) / 100
        assert event.status is Status.PAID
    assert isinstance(event.amount, Decimal)


def _pivot(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SAMPLES / f"pivot.{name}.json").read_bytes())
    return doc


def _rm(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SAMPLES / f"revenue-monster.{name}.json").read_bytes())
    return doc


def test_pivot_cancelled_by_timeout_is_expired() -> None:
    doc = _pivot("payment_cancelled")
    doc["data"]["status"] = "EXPIRED"
    event = _normalize("pivot", doc)
    assert event is not None and event.status is Status.EXPIRED


def test_pivot_full_refund_is_refunded_and_keeps_decimal_amount() -> None:
    doc = _pivot("refund_success")
    doc["data"]["isFullAmount"] = True
    doc["data"]["amount"]["value"] = "10000.50"
    event = _normalize("pivot", doc)
    assert event is not None
    assert event.status is Status.REFUNDED
    assert event.amount == Decimal("10000.50")


@pytest.mark.parametrize("event_name", ["REFUND.PENDING", "REFUND.WAITING_BANK_TRANSFER", "REFUND.FAILED"])
def test_pivot_unfinished_refund_leaves_the_payment_paid(event_name: str) -> None:
    doc = _pivot("refund_success")
    doc["event"] = event_name
    event = _normalize("pivot", doc)
    assert event is not None and event.status is Status.PAID
    assert event.event_key != _normalize("pivot", _pivot("refund_success")).event_key  # type: ignore[union-attr]


def test_unknown_extra_fields_are_tolerated() -> None:
    doc = _pivot("payment_paid")
    doc["data"]["brandNewField"] = {"nested": [1, 2, {"x": None}]}
    doc["somethingElse"] = True
    event = _normalize("pivot", doc)
    assert event is not None and event.status is Status.PAID


def test_duplicate_notifications_share_an_event_key_and_distinct_ones_do_not() -> None:
    paid = _normalize("pivot", _pivot("payment_paid"))
    again = _normalize("pivot", _pivot("payment_paid"))
    processing = _normalize("pivot", _pivot("payment_processing"))
    assert paid is not None and again is not None and processing is not None
    assert paid.event_key == again.event_key
    assert paid.event_key != processing.event_key
    assert paid.payment_key == processing.payment_key


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("IN_PROCESS", Status.PROCESSING),
        ("SUCCESS", Status.PAID),
        ("FAILED", Status.FAILED),
        ("FULL_REFUNDED", Status.REFUNDED),
        ("PARTIAL_REFUNDED", Status.PARTIALLY_REFUNDED),
        ("REVERSED", Status.REVERSED),
    ],
)
def test_revenue_monster_statuses_map_to_canonical(status: str, expected: Status) -> None:
    doc = _rm("payment_web_online")
    doc["data"]["status"] = status
    event = _normalize("revenue-monster", doc)
    assert event is not None and event.status is expected


def test_revenue_monster_amount_is_exact_ringgit_from_sen() -> None:
    doc = _rm("payment_web_online")
    doc["data"]["order"]["amount"] = 123457
    event = _normalize("revenue-monster", doc)
    assert event is not None and event.amount == Decimal("1234.57") and event.currency == "MYR"


@pytest.mark.parametrize(
    ("provider", "mutate", "error"),
    [
        ("pivot", lambda d: d.update(event="PAYMENT.EXPLODED"), UnknownEvent),
        ("pivot", lambda d: d["data"].pop("clientReferenceId"), MissingField),
        ("pivot", lambda d: d["data"]["amount"].update(value="ten thousand"), InvalidAmount),
        ("pivot", lambda d: d["data"]["amount"].update(value=True), InvalidAmount),
        ("pivot", lambda d: d["data"]["amount"].update(value=-5), InvalidAmount),
        ("pivot", lambda d: d.update(data=[]), NormalizeError),
        ("revenue-monster", lambda d: d["data"].update(status="ON_FIRE"), UnknownStatus),
        ("revenue-monster", lambda d: d.update(eventType="REFUND_ONLINE"), UnknownEvent),
        ("revenue-monster", lambda d: d["data"]["order"].update(amount=100.5), InvalidAmount),
        ("revenue-monster", lambda d: d["data"].pop("transactionId"), MissingField),
    ],
    ids=[
        "pivot-unknown-event",
        "pivot-missing-order-ref",
        "pivot-amount-words",
        "pivot-amount-bool",
        "pivot-amount-negative",
        "pivot-data-not-object",
        "rm-unknown-status",
        "rm-unknown-event",
        "rm-fractional-sen",
        "rm-missing-transaction",
    ],
)
def test_bad_callbacks_raise_a_named_normalize_error(provider: str, mutate: Any, error: type[Exception]) -> None:
    doc = _pivot("payment_paid") if provider == "pivot" else _rm("payment_web_online")
    mutate(doc)
    with pytest.raises(error) as caught:
        _normalize(provider, doc)
    assert isinstance(caught.value, NormalizeError)
    assert caught.value.message


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'"text"', b"{"], ids=repr)
@pytest.mark.parametrize("provider", ["pivot", "revenue-monster"])
def test_non_object_bodies_are_invalid_json(provider: str, body: bytes) -> None:
    with pytest.raises(InvalidJson):
        all_providers()[provider].normalize(body)
