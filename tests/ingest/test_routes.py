"""The receiver's fast path (``FastPath``) as a plain ASGI app, driven by hand (no server, no I/O): a POST to
``/callbacks/<provider>[/<account>]`` goes straight to the callback endpoint with its route, everything else to
the Starlette app; beyond the in-flight bound a cheap 503; an endpoint that fails answers 500 without
saying why."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
from starlette.types import Message, Receive, Scope, Send

from ingest.routes import CallbackEndpoint, FastPath
from ingest.shutdown import GracefulShutdown


class Recorder:
    """Stands for the callback endpoint or the app: records the routes it is called with."""

    def __init__(self, *, fails: bool = False, gate: asyncio.Event | None = None) -> None:
        self.seen: list[str] = []
        self.fails = fails
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope.get("path_params", {}).get("route", scope["path"]))
        if self.gate is not None:
            await self.gate.wait()
        if self.fails:
            raise RuntimeError("secret detail from the body")


def _path(callbacks: Recorder, app: Recorder, max_in_flight: int = 10) -> FastPath:
    return FastPath(app, cast(CallbackEndpoint, callbacks), max_in_flight, GracefulShutdown(1.0))


async def _call(path: FastPath, method: str, url: str) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": method, "path": url, "headers": []}
    await path(scope, receive, send)
    return sent


def test_callback_posts_take_the_fast_path_and_the_rest_the_app() -> None:
    callbacks, app = Recorder(), Recorder()
    path = _path(callbacks, app)
    for method, url in [
        ("POST", "/callbacks/pivot"),
        ("POST", "/callbacks/pivot/shop"),
        ("POST", "/callbacks/pivot/shop/extra"),
        ("POST", "/callbacks/"),
        ("GET", "/callbacks/pivot"),
        ("GET", "/healthz"),
    ]:
        asyncio.run(_call(path, method, url))
    assert callbacks.seen == ["pivot", "pivot/shop"]
    assert app.seen == ["/callbacks/pivot/shop/extra", "/callbacks/", "/callbacks/pivot", "/healthz"]


def test_beyond_the_in_flight_bound_a_503_and_the_count_goes_back_down() -> None:
    async def run() -> tuple[list[Message], int, int]:
        gate = asyncio.Event()
        callbacks = Recorder(gate=gate)
        path = _path(callbacks, Recorder(), max_in_flight=1)
        first = asyncio.create_task(_call(path, "POST", "/callbacks/pivot"))
        await asyncio.sleep(0)
        refused = await _call(path, "POST", "/callbacks/pivot")
        in_flight = path.in_flight
        gate.set()
        await first
        return refused, in_flight, path.in_flight

    refused, during, after = asyncio.run(run())
    assert refused[0]["status"] == 503 and orjson.loads(refused[1]["body"])["error"] == "busy"
    assert (during, after) == (1, 0)


def test_a_failing_endpoint_answers_500_without_its_message() -> None:
    path = _path(Recorder(fails=True), Recorder())
    start, body = asyncio.run(_call(path, "POST", "/callbacks/pivot"))
    assert start["status"] == 500
    assert b"secret detail" not in body["body"] and orjson.loads(body["body"])["error"] == "internal_error"
    assert path.in_flight == 0
