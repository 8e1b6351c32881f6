"""The gate in front of each provider's API, in-process (Starlette's test client, no socket): every request
logged with its fault; faults that corrupt the provider's own answer (malformed, truncated, an nginx HTML
page) keep its status; a fault with a count is spent; a dropped connection with no socket to cut fails the
request as a reset would. Midtrans's Get Status is the probe (Basic auth with the stand-in's server key)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shared.providers._standin import create_app
from shared.providers._standin.config import StandInConfig
from shared.providers._standin.gate import _corrupt


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Throwaway keys made once for the module (an RSA key takes a while)."""
    return tmp_path_factory.mktemp("standin-keys")


@pytest.fixture
def client(keys: Path) -> Iterator[TestClient]:
    config = StandInConfig.from_env({}, keys)
    with TestClient(create_app(config)) as running:
        running.put(
            "/_sim/midtrans/payments",
            json={"order_id": "ORD-1", "gross_amount": "150000.00", "transaction_status": "settlement"},
        ).raise_for_status()
        running.headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{config.midtrans_sandbox_key}:".encode()).decode()
        )
        yield running


def _fault(client: TestClient, **fault: Any) -> None:
    client.put("/_sim/faults", json={"provider": "midtrans", **fault}).raise_for_status()


def _log(client: TestClient) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = client.get("/_sim/requests?provider=midtrans").json()["requests"]
    return seen


def test_without_a_fault_the_provider_answers_and_the_request_is_logged(client: TestClient) -> None:
    answer = client.get("/midtrans/v2/ORD-1/status")
    assert answer.status_code == 200 and answer.json()["transaction_status"] == "settlement"
    [seen] = _log(client)
    assert seen["fault"] is None and seen["status"] == 200 and seen["path"].endswith("/v2/ORD-1/status")


@pytest.mark.parametrize("mode", ["malformed", "truncated"])
def test_a_corrupted_answer_keeps_its_status_and_parses_no_more(client: TestClient, mode: str) -> None:
    _fault(client, mode=mode, count=1)
    answer = client.get("/midtrans/v2/ORD-1/status")
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    assert _log(client)[-1]["fault"] == mode
    assert client.get("/midtrans/v2/ORD-1/status").json()["transaction_status"] == "settlement"  # spent


def test_an_html_fault_is_a_gateways_page(client: TestClient) -> None:
    _fault(client, mode="html", status=503)
    answer = client.get("/midtrans/v2/ORD-1/status")
    assert answer.status_code == 503 and answer.headers["content-type"] == "text/html"
    assert b"503 Service Temporarily Unavailable" in answer.content


def test_a_dropped_connection_without_a_socket_fails_as_a_reset(client: TestClient) -> None:
    _fault(client, mode="drop_connection", count=1)
    with pytest.raises(ConnectionResetError):
        client.get("/midtrans/v2/ORD-1/status")
    assert _log(client)[-1]["fault"] == "drop_connection"


def test_corruption_never_leaves_json_that_parses() -> None:
    for body in (b'{"a": 1, "b": 2}', b"[]", b"{}"):
        for mode in ("malformed", "truncated"):
            with pytest.raises(json.JSONDecodeError):
                json.loads(_corrupt(body, mode))
