"""Receive -> queue -> process -> state, against the real PostgreSQL and Redis."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from redis import Redis
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.support.fixtures import sample
from tests.support.pipeline import append, drain_all, payment, pivot_event, pivot_refund, post, rows, scalar

pytestmark = pytest.mark.integration


def post_pivot(web: TestClient, body: bytes) -> None:
    post(web, "pivot", body)


def enqueue(redis: Redis, keys: QueueKeys, callback: QueuedCallback) -> None:
    append(redis, keys, callback)


def test_both_providers_samples_end_as_the_right_statuses(settings: Settings, web: TestClient, engine: Engine) -> None:
    for name in (
        "payment_processing",
        "payment_paid",
        "payment_cancelled",
        "charge_success",
        "refund_success",
        "payment_test",
    ):
        post_pivot(web, sample(f"pivot.{name}"))
    post(web, "revenue-monster", sample("revenue-monster.payment_web_online"))
    post(web, "revenue-monster", sample("revenue-monster.recurring_payment"))
    report = drain_all(settings)

    paid = payment(engine, "pivot", "1750758552")
    assert paid is not None
    assert (paid["status"], paid["amount"], paid["currency"]) == ("paid", "10001", "IDR")
    assert [(e["type"], e["outcome"]) for e in paid["events"]] == [
        ("PAYMENT.PROCESSING", "applied"),
        ("PAYMENT.PAID", "applied"),
    ]
    assert payment(engine, "pivot", "1743343932")["status"] == "cancelled"  # type: ignore[index]
    assert payment(engine, "pivot", "STATIC-QRIS-42")["status"] == "paid"  # type: ignore[index]
    refunded = payment(engine, "pivot", "edb4e7c4-0b1a-4d2e-9f3c-5a6b7c8d9e0f")
    assert refunded is not None and refunded["status"] == "partially_refunded"
    rm = payment(engine, "revenue-monster", "P000000660800")
    assert rm is not None and (rm["status"], Decimal(rm["amount"]), rm["currency"]) == (
        "paid",
        Decimal("1.00"),
        "MYR",
    )
    assert payment(engine, "revenue-monster", "SUB-2026-0001")["amount"] == "10.00"  # type: ignore[index]
    # PAYMENT.TEST is accepted and changes nothing.
    assert report.ignored == 1
    assert scalar(engine, "SELECT count(*) FROM payment_events") == 7
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0


def test_refund_before_its_payment_is_kept_and_the_final_state_is_the_same(
    settings: Settings, web: TestClient, engine: Engine
) -> None:
    post_pivot(web, pivot_refund("sess-r", "ref-1", full=True, value="7000"))
    drain_all(settings)
    assert payment(engine, "pivot", "sess-r")["status"] == "refunded"  # type: ignore[index]
    post_pivot(web, pivot_event("PAYMENT.PAID", "sess-r", "order-r", "PAID"))
    drain_all(settings)
    doc = payment(engine, "pivot", "order-r")
    assert doc is not None
    assert doc["status"] == "refunded"
    assert doc["amount"] == "10001", "the payment's amount comes from the payment event, not the refund"
    assert [e["outcome"] for e in doc["events"]] == ["applied", "stale"]


def _story(i: int) -> tuple[list[bytes], str]:
    """A payment's events and the final status the contract gives them in any order."""
    session, ref = f"sess-{i}", f"order-{i}"
    kind = i % 4
    events = [
        pivot_event("PAYMENT.PROCESSING", session, ref, "PROCESSING"),
        pivot_event("PAYMENT.PAID", session, ref, "PAID"),
    ]
    if kind == 0:
        return events, "paid"
    if kind == 1:
        return [*events, pivot_event("PAYMENT.CANCELLED", session, ref, "CANCELLED")], "paid"
    if kind == 2:
        return [*events, pivot_refund(session, f"rf-{i}", full=False)], "partially_refunded"
    return [
        *events,
        pivot_refund(session, f"rf-{i}a", full=False),
        pivot_refund(session, f"rf-{i}b", full=True),
    ], "refunded"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_and_duplicated_arrival_gives_the_right_final_state(
    settings: Settings, web: TestClient, engine: Engine, seed: int
) -> None:
    rng = random.Random(seed)
    stories = [_story(i) for i in range(40)]
    bodies = [body for events, _ in stories for body in events]
    sent = bodies + rng.sample(bodies, len(bodies) // 5)
    rng.shuffle(sent)
    for body in sent:
        post_pivot(web, body)
    drain_all(settings)
    for i, (_, expected) in enumerate(stories):
        doc = payment(engine, "pivot", f"order-{i}")
        assert doc is not None and doc["status"] == expected, (i, doc)
    assert scalar(engine, "SELECT count(*) FROM payment_events") == len(sent)
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'duplicate'") == len(sent) - len(bodies)


def test_garbage_from_an_authenticated_sender_is_dead_lettered_with_raw_bytes(
    settings: Settings, web: TestClient, engine: Engine
) -> None:
    garbage = {
        b"\x00\xffnot json": "invalid_json",
        b'{"event": "PAYMENT.EXPLODED", "data": {}}': "unknown_event",
        pivot_event("PAYMENT.PAID", "s", "r", "PAID").replace(b'"clientReferenceId": "r", ', b""): "missing_field",
        pivot_event("PAYMENT.PAID", "s2", "r2", "PAID", amount={"value": "lots", "currency": "IDR"}): "invalid_amount",
    }
    for body in garbage:
        post_pivot(web, body)
    post_pivot(web, sample("pivot.payment_paid"))
    report = drain_all(settings)
    assert report.dead_lettered == len(garbage)
    letters = rows(engine, "SELECT body, reason, detail, traceback, headers FROM dead_letters ORDER BY id")
    assert {bytes(r.body): r.reason for r in letters} == garbage
    assert all(r.detail and r.traceback for r in letters)
    assert payment(engine, "pivot", "1750758552")["status"] == "paid"  # type: ignore[index]
    assert scalar(engine, "SELECT count(*) FROM payments") == 1


def test_a_data_error_in_one_callback_is_isolated_and_the_rest_commits(
    settings: Settings, web: TestClient, engine: Engine
) -> None:
    # PostgreSQL refuses a NUL character in text: only the database finds this one out.
    poisoned = pivot_event("PAYMENT.PAID", "sess-nul", "bad\x00ref", "PAID")
    good = [pivot_event("PAYMENT.PAID", f"sess-{i}", f"ok-{i}", "PAID") for i in range(9)]
    for body in [*good[:4], poisoned, *good[4:]]:
        post_pivot(web, body)
    report = drain_all(settings)
    assert report.dead_lettered == 1
    [letter] = rows(engine, "SELECT reason, body FROM dead_letters")
    assert letter.reason == "database_rejected" and bytes(letter.body) == poisoned
    assert scalar(engine, "SELECT count(*) FROM payments WHERE status = 'paid'") == 9


def test_a_clash_keeps_the_status_that_arrived_first_even_when_processed_last(
    settings: Settings, redis: Redis, engine: Engine
) -> None:
    keys = QueueKeys(settings.queue_prefix)
    cancelled = pivot_event("PAYMENT.CANCELLED", "sess-c", "order-c", "CANCELLED")
    expired = pivot_event("PAYMENT.CANCELLED", "sess-c", "order-c", "EXPIRED")
    # The expiry arrived second but is processed first (the cancellation was, say, reclaimed or replayed).
    enqueue(redis, keys, QueuedCallback("pivot", expired, {}, 2_000.0))
    drain_all(settings)
    enqueue(redis, keys, QueuedCallback("pivot", cancelled, {}, 1_000.0))
    drain_all(settings)
    doc = payment(engine, "pivot", "order-c")
    assert doc is not None
    assert doc["status"] == "cancelled"
    assert {e["status"]: e["outcome"] for e in doc["events"]} == {"expired": "applied", "cancelled": "conflict"}
