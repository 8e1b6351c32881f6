"""Callbacks from the control API: they arrive at a local receiver signed as each provider signs them
(checked with the provider modules' own authenticators), now, late, copied, dropped, or held and released
in another order; and never anywhere but loopback."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from shared.canonical import Status
from shared.providers import Authenticator, all_providers
from tests.shared.providers.standin.conftest import Receiver, payments
from tests.support.fixtures import credentials
from tests.support.standin import StandIn


@cache
def _authenticator(provider: str) -> Authenticator:
    """The receiver's check of the provider's callbacks, configured with the test credentials."""
    authenticator = all_providers()[provider].configure(credentials())
    assert authenticator is not None
    return authenticator


def _authenticated(provider: str, path: str, headers: dict[str, str], body: bytes) -> None:
    assert _authenticator(provider).refusal(headers, body) is None
    assert path == f"/callbacks/{provider}"


def _send(standin: StandIn, receiver: Receiver, provider: str, key: str, **options: Any) -> dict[str, Any]:
    answer = standin.http.post(
        f"/_sim/{provider}/payments/{key}/callback", json={"url": f"{receiver.url}/callbacks/{provider}", **options}
    )
    assert answer.status_code == 200, answer.text
    sent: dict[str, Any] = answer.json()
    return sent


@pytest.mark.parametrize(
    ("provider", "event", "status"),
    [
        ("pivot", "PAYMENT.PAID", Status.PAID),
        ("revenue-monster", "PAYMENT_WEB_ONLINE", Status.PAID),
        ("midtrans", "settlement", Status.PAID),
    ],
)
def test_a_callback_arrives_signed_as_the_provider_signs(
    standin: StandIn, receiver: Receiver, provider: str, event: str, status: Status
) -> None:
    payments(standin)

    sent = _send(standin, receiver, provider, "ORD-1")

    assert sent["event"] == event
    assert sent["copies"] == [{"outcome": "delivered", "status": 200, "answer": "OK"}]
    ((path, headers, body),) = receiver.received
    _authenticated(provider, path, headers, body)
    event_ = all_providers()[provider].normalize(body)
    assert event_ is not None
    assert (event_.status, event_.order_ref) == (status, "ORD-1")


def test_a_pivot_refund_callback_carries_the_refund(standin: StandIn, receiver: Receiver) -> None:
    payments(standin)
    standin.sim("PATCH", "/pivot/payments/p-1", {"refunds": [{"id": "r-1", "amount": "500.00"}]})

    sent = _send(standin, receiver, "pivot", "p-1", event="REFUND.SUCCESS")

    assert sent["body"]["data"]["id"] == "r-1"
    ((path, headers, body),) = receiver.received
    _authenticated("pivot", path, headers, body)
    event = all_providers()["pivot"].normalize(body)
    assert event is not None
    assert event.status == Status.PARTIALLY_REFUNDED


def test_a_midtrans_expiry_notification_carries_202(standin: StandIn, receiver: Receiver) -> None:
    standin.sim(
        "PUT", "/midtrans/payments", {"order_id": "ORD-2", "gross_amount": "89500.00", "transaction_status": "expire"}
    )

    _send(standin, receiver, "midtrans", "ORD-2")

    ((path, headers, body),) = receiver.received
    _authenticated("midtrans", path, headers, body)
    assert json.loads(body)["status_code"] == "202"


def test_revenue_monster_notifies_successes_only(standin: StandIn, receiver: Receiver) -> None:
    standin.sim("PUT", "/revenue-monster/payments", {"orderId": "ORD-3", "amount": 100, "status": "FAILED"})

    answer = standin.http.post(
        "/_sim/revenue-monster/payments/ORD-3/callback", json={"url": f"{receiver.url}/callbacks/x"}
    )

    assert answer.status_code == 409
    assert receiver.received == []


def test_copies_duplicate_a_callback_and_drop_loses_it(standin: StandIn, receiver: Receiver) -> None:
    payments(standin)

    copied = _send(standin, receiver, "pivot", "p-1", copies=3)
    dropped = _send(standin, receiver, "pivot", "p-1", drop=True)

    assert [c["status"] for c in copied["copies"]] == [200, 200, 200]
    assert dropped["copies"] == [{"outcome": "dropped"}]
    assert len(receiver.received) == 3
    assert len({body for _, _, body in receiver.received}) == 1


def test_a_delayed_callback_arrives_after_the_delay(standin: StandIn, receiver: Receiver) -> None:
    payments(standin)

    started = time.monotonic()
    _send(standin, receiver, "midtrans", "ORD-1", delay_ms=200)

    assert time.monotonic() - started >= 0.2
    assert len(receiver.received) == 1


def test_the_receiver_s_answer_is_reported(standin: StandIn, receiver: Receiver) -> None:
    payments(standin)
    receiver.status = 503

    sent = _send(standin, receiver, "midtrans", "ORD-1")

    assert sent["copies"][0]["status"] == 503


def _shuffled(events: list[str], seed: int) -> list[str]:
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def _hold_three(standin: StandIn, receiver: Receiver) -> list[str]:
    standin.sim(
        "PUT", "/pivot/payments", {"id": "p-1", "clientReferenceId": "ORD-1", "amount": 150000, "status": "PROCESSING"}
    )
    events = []
    for status in ("PROCESSING", "PAID", "CANCELLED"):
        standin.sim("PATCH", "/pivot/payments/p-1", {"status": status})
        events.append(_send(standin, receiver, "pivot", "p-1", hold=True)["event"])
    assert receiver.received == []
    return events


@pytest.mark.parametrize(
    ("order", "arrange"),
    [
        ("as_held", lambda e: e),
        ("reverse", lambda e: e[::-1]),
        ("shuffle", lambda e: _shuffled(e, 42)),
    ],
)
def test_held_callbacks_are_released_in_the_order_asked(
    standin: StandIn, receiver: Receiver, order: str, arrange: Callable[[list[str]], list[str]]
) -> None:
    events = _hold_three(standin, receiver)
    assert len(standin.sim("GET", "/callbacks")["held"]) == 3

    released = standin.sim("POST", "/callbacks/release", {"order": order, "seed": 42})["released"]

    arrived = [json.loads(body)["event"] for _, _, body in receiver.received]
    assert arrived == arrange(events) == [r["event"] for r in released]
    assert all(r["status"] == 200 for r in released)
    for path, headers, body in receiver.received:
        _authenticated("pivot", path, headers, body)
    assert standin.sim("GET", "/callbacks")["held"] == []


@pytest.mark.parametrize(
    "url",
    [
        # Not a literal loopback address (a name that never resolves, a name that means loopback, a scheme that is
        # not http): the stand-in sends only to literal loopback addresses.
        "http://merchant.invalid:8000/callbacks/pivot",
        "http://localhost:8000/callbacks/pivot",
        "ftp://127.0.0.1/callbacks/pivot",
        None,
    ],
)
def test_a_callback_to_anything_but_loopback_is_refused(standin: StandIn, receiver: Receiver, url: str | None) -> None:
    payments(standin)

    answer = standin.http.post("/_sim/pivot/payments/p-1/callback", json={"url": url, "hold": True})

    assert answer.status_code == 400
    assert standin.sim("GET", "/callbacks") == {"held": [], "sent": []}


def test_ipv6_loopback_is_a_loopback_url(standin: StandIn) -> None:
    payments(standin)

    answer = standin.http.post(
        "/_sim/pivot/payments/p-1/callback", json={"url": "http://[::1]:9/callbacks/pivot", "drop": True}
    )

    assert answer.status_code == 200
