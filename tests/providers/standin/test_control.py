"""The control API: faults in front of each provider, callbacks arriving signed at a local receiver (held,
released in another order, copied, dropped), loopback-only targets, the clock, the request log, settings."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from shared.canonical import Status
from shared.env import SettingsError
from shared.providers import Authenticator, all_providers
from shared.providers._standin import StandInConfig, create_app, serve
from tests.providers.standin.conftest import Receiver, StandIn, midtrans_auth
from tests.providers.standin.test_revenue_monster import call
from tests.support.fixtures import KEYS, credentials

# One status-API request per provider, against a payment that exists.
Probe = Callable[[StandIn], httpx.Response]


def _pivot(standin: StandIn) -> httpx.Response:
    return standin.http.get("/pivot/v2/payments/p-1", headers={"Authorization": f"Bearer {standin.pivot_token()}"})


def _rm(standin: StandIn) -> httpx.Response:
    return call(standin, "GET", "/v3/payment/transaction/order/ORD-1", standin.rm_tokens()["accessToken"])


def _midtrans(standin: StandIn) -> httpx.Response:
    return standin.http.get("/midtrans/v2/ORD-1/status", headers=midtrans_auth())


PROBES: dict[str, Probe] = {"pivot": _pivot, "revenue-monster": _rm, "midtrans": _midtrans}


def _payments(standin: StandIn) -> None:
    standin.sim(
        "PUT", "/pivot/payments", {"id": "p-1", "clientReferenceId": "ORD-1", "amount": 150000, "status": "PAID"}
    )
    standin.sim("PUT", "/revenue-monster/payments", {"orderId": "ORD-1", "amount": 2590, "status": "SUCCESS"})
    standin.sim(
        "PUT",
        "/midtrans/payments",
        {"order_id": "ORD-1", "gross_amount": "150000.00", "transaction_status": "settlement"},
    )


def _fault(standin: StandIn, **fault: Any) -> None:
    standin.sim("PUT", "/faults", fault)


@pytest.mark.parametrize(
    ("provider", "code"),
    [("pivot", "frequency_above_limit"), ("revenue-monster", "EXCEEDED_LIMIT"), ("midtrans", "429")],
)
def test_rate_limit_answers_429_in_the_provider_s_own_body_without_retry_after(
    standin: StandIn, provider: str, code: str
) -> None:
    _payments(standin)
    _fault(standin, provider=provider, mode="rate_limit", scope="api")

    answer = PROBES[provider](standin)

    assert answer.status_code == 429
    assert "retry-after" not in answer.headers
    body = answer.json()
    assert code in (body.get("code"), body.get("status_code"), body.get("error", {}).get("code"))
    assert standin.requests(provider)[-1]["fault"] == "rate_limit"


def test_rate_limit_retry_after_sends_the_header(standin: StandIn) -> None:
    _payments(standin)
    _fault(
        standin,
        provider="revenue-monster",
        mode="rate_limit_retry_after",
        retry_after=7,
        code="TOO_MANY_REQUEST_PER_SECOND",
        scope="api",
    )

    answer = _rm(standin)

    assert (answer.status_code, answer.headers["retry-after"]) == (429, "7")
    assert answer.json()["error"]["code"] == "TOO_MANY_REQUEST_PER_SECOND"


@pytest.mark.parametrize(
    ("provider", "status", "check"),
    [
        (
            "pivot",
            None,
            lambda b: (
                (b["code"], b["error"]["type"], "trace_id" in b["error"])
                == ("service_unavailable", "GATEWAY_ERROR", True)
            ),
        ),
        ("pivot", 502, lambda b: b["code"] == "bad_gateway"),
        ("revenue-monster", None, lambda b: b["error"]["code"] == "INTERNAL_ERROR"),
        ("midtrans", None, lambda b: b["status_code"] == "503"),
    ],
)
def test_server_error_answers_5xx_in_the_provider_s_own_body(
    standin: StandIn, provider: str, status: int | None, check: Callable[[Any], bool]
) -> None:
    _payments(standin)
    _fault(standin, provider=provider, mode="server_error", status=status, scope="api")

    answer = PROBES[provider](standin)

    assert answer.status_code == (status or (500 if provider == "revenue-monster" else 503))
    assert check(answer.json())


def test_a_fault_with_a_count_takes_only_the_next_requests(standin: StandIn) -> None:
    _payments(standin)
    _fault(standin, provider="midtrans", mode="server_error", count=2)

    statuses = [_midtrans(standin).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert standin.sim("GET", "/faults") == {"faults": []}


def test_token_endpoints_take_the_fault_unless_it_is_scoped_to_the_api(standin: StandIn) -> None:
    _payments(standin)
    _fault(standin, provider="pivot", mode="rate_limit", scope="api")
    token = standin.pivot_token()
    assert _pivot(standin).status_code == 429

    _fault(standin, provider="pivot", mode="rate_limit")
    answer = standin.http.post("/pivot/v1/access-token", json={"grantType": "client_credentials"})

    assert answer.status_code == 429
    standin.sim("DELETE", "/faults")
    assert standin.http.get("/pivot/v2/payments/p-1", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_slow_answers_after_the_delay(standin: StandIn) -> None:
    _payments(standin)
    _fault(standin, provider="midtrans", mode="slow", seconds=0.3)

    started = time.monotonic()
    answer = _midtrans(standin)

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_drop_connection_closes_the_connection_without_an_answer(standin: StandIn) -> None:
    _payments(standin)
    _fault(standin, provider="midtrans", mode="drop_connection", count=1)

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{standin.url}/midtrans/v2/ORD-1/status", headers=midtrans_auth())

    seen = standin.requests("midtrans")[-1]
    assert (seen["status"], seen["fault"]) == (None, "drop_connection")
    assert _midtrans(standin).status_code == 200


@pytest.mark.parametrize("mode", ["malformed", "truncated"])
def test_malformed_and_truncated_answers_are_not_json(standin: StandIn, mode: str) -> None:
    _payments(standin)
    whole = _midtrans(standin).content
    _fault(standin, provider="midtrans", mode=mode)

    answer = _midtrans(standin)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    if mode == "truncated":
        assert whole.startswith(answer.content)
        assert len(answer.content) == len(whole) // 2


def test_html_answers_an_error_page(standin: StandIn) -> None:
    _payments(standin)
    _fault(standin, provider="pivot", mode="html", status=404, scope="api")

    answer = _pivot(standin)

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.startswith("<html>")


def test_not_found_as_200_turns_midtrans_s_404_into_http_200_only_when_not_found(standin: StandIn) -> None:
    _payments(standin)
    _fault(standin, provider="midtrans", mode="not_found_as_200")

    unknown = standin.http.get("/midtrans/v2/NOPE/status", headers=midtrans_auth())
    known = _midtrans(standin)

    assert (unknown.status_code, unknown.json()["status_code"]) == (200, "404")
    assert (known.status_code, known.json()["status_code"]) == (200, "200")
    refused = standin.http.put("/_sim/faults", json={"provider": "pivot", "mode": "not_found_as_200"})
    assert refused.status_code == 400


@pytest.mark.parametrize(
    "fault",
    [
        {"provider": "stripe", "mode": "rate_limit"},
        {"provider": "pivot", "mode": "meteor"},
        {"provider": "pivot", "mode": "rate_limit", "status": 500},
        {"provider": "pivot", "mode": "server_error", "status": 404},
        {"provider": "pivot", "mode": "rate_limit", "code": "EXCEEDED_LIMIT"},
        {"provider": "pivot", "mode": "slow", "colour": "red"},
    ],
)
def test_a_fault_the_stand_in_cannot_play_is_refused(standin: StandIn, fault: dict[str, Any]) -> None:
    assert standin.http.put("/_sim/faults", json=fault).status_code == 400


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
    _payments(standin)

    sent = _send(standin, receiver, provider, "ORD-1")

    assert sent["event"] == event
    assert sent["copies"] == [{"outcome": "delivered", "status": 200, "answer": "OK"}]
    ((path, headers, body),) = receiver.received
    _authenticated(provider, path, headers, body)
    event_ = all_providers()[provider].normalize(body)
    assert event_ is not None
    assert (event_.status, event_.order_ref) == (status, "ORD-1")


def test_a_pivot_refund_callback_carries_the_refund(standin: StandIn, receiver: Receiver) -> None:
    _payments(standin)
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
    _payments(standin)

    copied = _send(standin, receiver, "pivot", "p-1", copies=3)
    dropped = _send(standin, receiver, "pivot", "p-1", drop=True)

    assert [c["status"] for c in copied["copies"]] == [200, 200, 200]
    assert dropped["copies"] == [{"outcome": "dropped"}]
    assert len(receiver.received) == 3
    assert len({body for _, _, body in receiver.received}) == 1


def test_a_delayed_callback_arrives_after_the_delay(standin: StandIn, receiver: Receiver) -> None:
    _payments(standin)

    started = time.monotonic()
    _send(standin, receiver, "midtrans", "ORD-1", delay_ms=200)

    assert time.monotonic() - started >= 0.2
    assert len(receiver.received) == 1


def test_the_receiver_s_answer_is_reported(standin: StandIn, receiver: Receiver) -> None:
    _payments(standin)
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
        "http://10.0.0.1:8000/callbacks/pivot",
        "http://example.com/callbacks/pivot",
        "http://localhost:8000/callbacks/pivot",
        "https://203.0.113.7/callbacks/pivot",
        "ftp://127.0.0.1/callbacks/pivot",
        None,
    ],
)
def test_a_callback_to_anything_but_loopback_is_refused(standin: StandIn, receiver: Receiver, url: str | None) -> None:
    _payments(standin)

    answer = standin.http.post("/_sim/pivot/payments/p-1/callback", json={"url": url, "hold": True})

    assert answer.status_code == 400
    assert standin.sim("GET", "/callbacks") == {"held": [], "sent": []}


def test_ipv6_loopback_is_a_loopback_url(standin: StandIn) -> None:
    _payments(standin)

    answer = standin.http.post(
        "/_sim/pivot/payments/p-1/callback", json={"url": "http://[::1]:9/callbacks/pivot", "drop": True}
    )

    assert answer.status_code == 200


def test_the_clock_advances_and_can_be_set(standin: StandIn) -> None:
    before = standin.sim("GET", "/clock")["now"]

    advanced = standin.sim("POST", "/clock", {"advance": 3600})["now"]
    set_ = standin.sim("POST", "/clock", {"set": 1735700650})["now"]

    assert 3599 < advanced - before < 3610
    assert abs(set_ - 1735700650) < 5


def test_the_request_log_shows_every_api_request_by_provider(standin: StandIn) -> None:
    _payments(standin)
    _pivot(standin)
    _midtrans(standin)
    standin.http.get("/midtrans/v2/ORD-1/status")

    pivot = standin.requests("pivot")
    midtrans = standin.requests("midtrans")

    assert [(r["method"], r["path"], r["status"]) for r in pivot] == [
        ("POST", "/pivot/v1/access-token", 200),
        ("GET", "/pivot/v2/payments/p-1", 200),
    ]
    assert [(r["status"], r["auth_failure"]) for r in midtrans] == [(200, None), (401, "no Basic authorization")]
    assert all(isinstance(r["time"], float) for r in pivot + midtrans)
    assert pivot[0]["time"] <= pivot[1]["time"] <= midtrans[0]["time"]


def test_reset_forgets_payments_faults_and_requests(standin: StandIn) -> None:
    _payments(standin)
    _fault(standin, provider="pivot", mode="rate_limit")

    standin.sim("POST", "/reset")

    assert standin.sim("GET", "/pivot/payments") == {"payments": []}
    assert standin.sim("GET", "/faults") == {"faults": []}
    assert standin.sim("GET", "/requests") == {"requests": []}


def test_control_api_errors_name_the_problem(standin: StandIn) -> None:
    assert standin.http.put("/_sim/stripe/payments", json={}).status_code == 404
    assert standin.http.get("/_sim/pivot/payments/nope").status_code == 404
    assert standin.http.put("/_sim/pivot/payments", content=b"[1]").json() == {
        "error": "the body must be a JSON object"
    }


def test_the_settings_payhook_s_clients_read_are_the_credentials_accepted(tmp_path: Path) -> None:
    private = KEYS / "revenue-monster-merchant-test-private.pem"
    settings = {
        "PAYHOOK_PIVOT_MERCHANT_ID": "m-1",
        "PAYHOOK_PIVOT_MERCHANT_SECRET": "s-1",
        "PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY_FILE": str(private),
        "PAYHOOK_MIDTRANS_SERVER_KEY": "SB-Mid-server-other",
    }
    with TestClient(create_app(StandInConfig.from_env(settings, tmp_path))) as client:
        token = client.post(
            "/pivot/v1/access-token",
            headers={"X-MERCHANT-ID": "m-1", "X-MERCHANT-SECRET": "s-1"},
            json={"grantType": "client_credentials"},
        )
        midtrans = client.get("/midtrans/v2/x/status", headers=midtrans_auth("SB-Mid-server-other"))

    assert token.status_code == 200
    assert midtrans.status_code == 404
    # Nothing asked for the fixture's merchant pair: the private key's public half was used.
    assert not (tmp_path / "revenue-monster-merchant-test-public.pem").exists()


def test_a_bare_keys_folder_receives_throwaway_keys(tmp_path: Path) -> None:
    StandInConfig.from_env({}, tmp_path / "keys")

    made = sorted(p.name for p in (tmp_path / "keys").iterdir())

    assert "revenue-monster-merchant-test-private.pem" in made
    assert "revenue-monster-merchant-test-public.pem" in made
    assert "pivot-test-key" in made


def test_settings_that_cannot_work_are_refused() -> None:
    key = base64.b64encode(b"x").decode()
    with pytest.raises(SettingsError):
        StandInConfig.from_env(
            {"PAYHOOK_SIMULATE_MIDTRANS_PRODUCTION_KEY": (KEYS / "midtrans-test-server-key").read_text()}, KEYS
        )
    with pytest.raises(SettingsError):
        StandInConfig.from_env({"PAYHOOK_SIMULATE_REVENUE_MONSTER_MERCHANT_PUBLIC_KEY": key}, KEYS)
    with pytest.raises(ValueError, match="loopback"):
        serve(0, host="0.0.0.0")
