"""The control API: faults in front of each provider's API, in each provider's own words; the clock, the
request log, reset, and the control API's own refusals."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.shared.providers.standin.conftest import midtrans_auth, payments
from tests.shared.providers.standin.rm import call
from tests.support.standin import StandIn

# One status-API request per provider, against a payment that exists.
Probe = Callable[[StandIn], httpx.Response]


def _pivot(standin: StandIn) -> httpx.Response:
    return standin.http.get("/pivot/v2/payments/p-1", headers={"Authorization": f"Bearer {standin.pivot_token()}"})


def _rm(standin: StandIn) -> httpx.Response:
    return call(standin, "GET", "/v3/payment/transaction/order/ORD-1", standin.rm_tokens()["accessToken"])


def _midtrans(standin: StandIn) -> httpx.Response:
    return standin.http.get("/midtrans/v2/ORD-1/status", headers=midtrans_auth())


PROBES: dict[str, Probe] = {"pivot": _pivot, "revenue-monster": _rm, "midtrans": _midtrans}


def _fault(standin: StandIn, **fault: Any) -> None:
    standin.sim("PUT", "/faults", fault)


@pytest.mark.parametrize(
    ("provider", "code"),
    [("pivot", "frequency_above_limit"), ("revenue-monster", "EXCEEDED_LIMIT"), ("midtrans", "429")],
)
def test_rate_limit_answers_429_in_the_provider_s_own_body_without_retry_after(
    standin: StandIn, provider: str, code: str
) -> None:
    payments(standin)
    _fault(standin, provider=provider, mode="rate_limit", scope="api")

    answer = PROBES[provider](standin)

    assert answer.status_code == 429
    assert "retry-after" not in answer.headers
    body = answer.json()
    assert code in (body.get("code"), body.get("status_code"), body.get("error", {}).get("code"))
    assert standin.requests(provider)[-1]["fault"] == "rate_limit"


def test_rate_limit_retry_after_sends_the_header(standin: StandIn) -> None:
    payments(standin)
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
    payments(standin)
    _fault(standin, provider=provider, mode="server_error", status=status, scope="api")

    answer = PROBES[provider](standin)

    assert answer.status_code == (status or (500 if provider == "revenue-monster" else 503))
    assert check(answer.json())


def test_a_fault_with_a_count_takes_only_the_next_requests(standin: StandIn) -> None:
    payments(standin)
    _fault(standin, provider="midtrans", mode="server_error", count=2)

    statuses = [_midtrans(standin).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert standin.sim("GET", "/faults") == {"faults": []}


def test_token_endpoints_take_the_fault_unless_it_is_scoped_to_the_api(standin: StandIn) -> None:
    payments(standin)
    _fault(standin, provider="pivot", mode="rate_limit", scope="api")
    token = standin.pivot_token()
    assert _pivot(standin).status_code == 429

    _fault(standin, provider="pivot", mode="rate_limit")
    answer = standin.http.post("/pivot/v1/access-token", json={"grantType": "client_credentials"})

    assert answer.status_code == 429
    standin.sim("DELETE", "/faults")
    assert standin.http.get("/pivot/v2/payments/p-1", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_slow_answers_after_the_delay(standin: StandIn) -> None:
    payments(standin)
    _fault(standin, provider="midtrans", mode="slow", seconds=0.3)

    started = time.monotonic()
    answer = _midtrans(standin)

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_drop_connection_closes_the_connection_without_an_answer(standin: StandIn) -> None:
    payments(standin)
    _fault(standin, provider="midtrans", mode="drop_connection", count=1)

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{standin.url}/midtrans/v2/ORD-1/status", headers=midtrans_auth())

    seen = standin.requests("midtrans")[-1]
    assert (seen["status"], seen["fault"]) == (None, "drop_connection")
    assert _midtrans(standin).status_code == 200


@pytest.mark.parametrize("mode", ["malformed", "truncated"])
def test_malformed_and_truncated_answers_are_not_json(standin: StandIn, mode: str) -> None:
    payments(standin)
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
    payments(standin)
    _fault(standin, provider="pivot", mode="html", status=404, scope="api")

    answer = _pivot(standin)

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.startswith("<html>")


def test_not_found_as_200_turns_midtrans_s_404_into_http_200_only_when_not_found(standin: StandIn) -> None:
    payments(standin)
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


def test_the_clock_advances_and_can_be_set(standin: StandIn) -> None:
    before = standin.sim("GET", "/clock")["now"]

    advanced = standin.sim("POST", "/clock", {"advance": 3600})["now"]
    set_ = standin.sim("POST", "/clock", {"set": 1735700650})["now"]

    assert 3599 < advanced - before < 3610
    assert abs(set_ - 1735700650) < 5


def test_the_request_log_shows_every_api_request_by_provider(standin: StandIn) -> None:
    payments(standin)
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
    payments(standin)
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
