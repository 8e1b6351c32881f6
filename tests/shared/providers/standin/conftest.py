"""The stand-in served by a real uvicorn on a free loopback port (one per module, reset before each test),
and a receiver of callbacks beside it that records what arrives."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.support.standin import (
    MIDTRANS_KEY,
    Served,
    StandIn,
)


def midtrans_auth(key: str = MIDTRANS_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(), "Accept": "application/json"}


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
