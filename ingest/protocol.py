"""uvicorn's httptools protocol with a deadline for every request head.

uvicorn times out idle keep-alive connections, but not a client that trickles a request head in byte by
byte (slowloris): each such connection would hold a slot forever. ``--http ingest.protocol:GuardedHttpToolsProtocol``
closes a connection whose head is not complete within ``PAYHOOK_REQUEST_TIMEOUT_SECONDS``; the body has the
same deadline inside the app.
"""

from __future__ import annotations

import asyncio
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.settings import Settings


@cache
def _head_timeout() -> float:
    return Settings.from_env().request_timeout_seconds


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(_head_timeout(), self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()
