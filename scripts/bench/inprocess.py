"""Driving an ASGI app through uvicorn's own HTTP protocol in this process, with no sockets.

The web process's work per request is parsing the request (httptools), the ASGI cycle, the app, writing the
response; the kernel's share (the socket) is the same for every app. Feeding request bytes straight into
uvicorn's protocol object and collecting what it writes leaves exactly the part that differs between apps,
in one process, where it can be counted (``scripts.bench.instructions``). The receiver's Redis appends are
real: its client's work is part of the request's cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.server import ServerState

from ingest.protocol import GuardedHttpToolsProtocol


def request_bytes(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class MemoryTransport(asyncio.Transport):
    """What the protocol writes, kept; a response head counts as one response."""

    def __init__(self, peer: int, on_response: Callable[[bytes], None]) -> None:
        super().__init__()
        self._peer = peer
        self._on_response = on_response
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", self._peer), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data[:5]) == b"HTTP/":
            self._on_response(bytes(data[:12]))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Driver:
    """``connections`` keep-alive connections, each sent one request per round (so the receiver's appender
    coalesces a round's appends as it does under wrk's 64 connections)."""

    def __init__(self, app: ASGIApp, request: bytes, connections: int = 64) -> None:
        # The Procfile's web line: no proxy headers, no access log, the same limits; but a keep-alive of ten
        # minutes, as a round under valgrind on a loaded machine may take longer than the Procfile's 5 s (the
        # timer is still set and cancelled once a request, as with 5 s).
        config = Config(
            app, http=GuardedHttpToolsProtocol, proxy_headers=False, access_log=False, limit_concurrency=4096,
            timeout_keep_alive=600, log_level="warning", lifespan="off",
        )  # fmt: skip
        config.load()
        state = ServerState()
        self._request = request
        self._statuses: list[bytes] = []
        self._done: asyncio.Event | None = None
        self._expected = 0
        self._protocols = []
        for i in range(connections):
            protocol = GuardedHttpToolsProtocol(config=config, server_state=state, app_state={})
            protocol.connection_made(MemoryTransport(10_000 + i, self._answered))
            self._protocols.append(protocol)

    def _answered(self, status_line: bytes) -> None:
        self._statuses.append(status_line)
        if len(self._statuses) >= self._expected and self._done is not None:
            self._done.set()

    async def rounds(self, count: int) -> int:
        """Send ``count`` rounds; the number of requests answered. Anything but 200 is an error."""
        for _ in range(count):
            self._statuses.clear()
            self._expected = len(self._protocols)
            self._done = asyncio.Event()
            for protocol in self._protocols:
                protocol.data_received(self._request)
            await asyncio.wait_for(self._done.wait(), 30)
            wrong = [s for s in self._statuses if not s.endswith(b" 200")]
            if wrong:
                raise RuntimeError(f"the app answered {wrong[0]!r}, not 200")
        return count * len(self._protocols)
