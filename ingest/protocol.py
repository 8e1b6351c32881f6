"""uvicorn's httptools protocol with a deadline for every request, head and body.

uvicorn times out idle keep-alive connections, but not a client that trickles a request in byte by byte
(slowloris) or stops half-way through its body: each such connection would hold a slot, and an app task,
forever. ``--http ingest.protocol:GuardedHttpToolsProtocol`` gives every request
``PAYHOOK_REQUEST_TIMEOUT_SECONDS`` from its first byte to its last. A head that misses it gets the
connection closed; a body that misses it gets a 408 in the API's error shape, then the close. One timer
per request, in the protocol: the app's hot path pays nothing for it.
"""

from __future__ import annotations

import asyncio
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.settings import Settings

_BODY = b'{"error":"timeout","message":"the request did not arrive in time"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


@cache
def _deadline() -> float:
    return Settings.from_env().request_timeout_seconds


# On shutdown, an idle keep-alive connection is read for this long before it is closed: a request a client
# wrote just before is answered rather than cut off.
IDLE_LINGER_SECONDS = 0.5


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    _timer: asyncio.TimerHandle | None = None
    _head_done = False
    _shutting_down = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_done = False
        self._arm()

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()
        if self._shutting_down and self.cycle is not None:
            self.cycle.keep_alive = False

    def shutdown(self) -> None:
        """uvicorn closes an idle connection at once; linger a moment for a request already on its way."""
        self._shutting_down = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(IDLE_LINGER_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(_deadline(), self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._head_done and cycle is not None and not cycle.response_started:
            # The app is waiting for the rest of the body: it will see a disconnect, and send nothing.
            cycle.disconnected = True
            cycle.message_event.set()
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()
