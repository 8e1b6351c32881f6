"""The stand-in served by a real uvicorn on a free loopback port (one per module, reset before each test),
and a receiver of callbacks beside it that records what arrives."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from shared.providers._standin import StandInConfig, create_app
from tests.support.fixtures import KEYS
from tests.support.net import free_port

PIVOT_ID = "pivot-test-merchant"
PIVOT_SECRET = "pivot-test-secret"
RM_BASIC = "Basic " + base64.b64encode(b"rm-test-client:rm-test-secret").decode()
MIDTRANS_KEY = (KEYS / "midtrans-test-server-key").read_text().strip()


def midtrans_auth(key: str = MIDTRANS_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(), "Accept": "application/json"}


class Served:
    """An ASGI app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: ASGIApp) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@dataclass
class StandIn:
    """The running stand-in and an HTTP client for it."""

    url: str
    http: httpx.Client

    def sim(self, method: str, path: str, body: Any = None) -> Any:
        """A control API call that must succeed; its JSON answer."""
        answer = self.http.request(method, f"/_sim{path}", json=body)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def pivot_token(self) -> str:
        answer = self.http.post(
            "/pivot/v1/access-token",
            headers={"X-MERCHANT-ID": PIVOT_ID, "X-MERCHANT-SECRET": PIVOT_SECRET},
            json={"grantType": "client_credentials"},
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["data"]["accessToken"]
        return token

    def rm_tokens(self) -> dict[str, Any]:
        answer = self.http.post(
            "/revenue-monster/oauth/v1/token",
            headers={"Authorization": RM_BASIC},
            json={"grantType": "client_credentials"},
        )
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens

    def requests(self, provider: str) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = self.sim("GET", f"/requests?provider={provider}")["requests"]
        return seen


def payments(standin: StandIn) -> None:
    """One paid payment per provider, each with the order reference ORD-1 (Pivot's session id: p-1)."""
    standin.sim(
        "PUT", "/pivot/payments", {"id": "p-1", "clientReferenceId": "ORD-1", "amount": 150000, "status": "PAID"}
    )
    standin.sim("PUT", "/revenue-monster/payments", {"orderId": "ORD-1", "amount": 2590, "status": "SUCCESS"})
    standin.sim(
        "PUT",
        "/midtrans/payments",
        {"order_id": "ORD-1", "gross_amount": "150000.00", "transaction_status": "settlement"},
    )


def serve_standin(settings: Mapping[str, str] | None = None) -> Served:
    return Served(create_app(StandInConfig.from_env(settings or {}, KEYS)))


@pytest.fixture(scope="module")
def served() -> Iterator[StandIn]:
    with serve_standin() as running, httpx.Client(base_url=running.url, timeout=10) as client:
        yield StandIn(running.url, client)


@pytest.fixture
def standin(served: StandIn) -> StandIn:
    served.http.post("/_sim/reset").raise_for_status()
    return served


@dataclass
class Receiver:
    """A merchant's callback endpoint: it records every request and answers ``status``."""

    url: str = ""
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200

    async def receive(self, request: Request) -> Response:
        self.received.append((request.url.path, dict(request.headers), await request.body()))
        return PlainTextResponse("OK", self.status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/callbacks/{provider}", self.receive, methods=["POST"])])


@pytest.fixture(scope="module")
def served_receiver() -> Iterator[tuple[Served, Receiver]]:
    receiver = Receiver()
    with Served(receiver.app()) as running:
        receiver.url = running.url
        yield running, receiver


@pytest.fixture
def receiver(served_receiver: tuple[Served, Receiver]) -> Receiver:
    _, receiver = served_receiver
    receiver.received.clear()
    receiver.status = 200
    return receiver
