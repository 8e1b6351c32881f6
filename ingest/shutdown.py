"""Graceful shutdown of the web process.

On SIGTERM a load balancer may go on sending requests for a while, and a client may already have written a
request on an idle keep-alive connection; a provider that never retries loses a callback
that is cut off. So: ``/readyz`` turns 503 at once, every request that still arrives is answered, with
``Connection: close``, for ``PAYHOOK_SHUTDOWN_GRACE_SECONDS``; only then is uvicorn told to stop (it stops
accepting and finishes what is in flight). A second SIGTERM stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import Message, Send

log = logging.getLogger(__name__)
_CLOSE = (b"connection", b"close")


class GracefulShutdown:
    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.draining = False

    def install(self) -> None:
        """Put ourselves in front of uvicorn's SIGTERM handler (installed before the app's startup). Only the
        main thread can: an app run by a test client is left alone."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        uvicorn_handler = signal.getsignal(signal.SIGTERM)
        if not callable(uvicorn_handler):
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:
                # A second SIGTERM: stop now, without waiting for what is in flight.
                server = getattr(uvicorn_handler, "__self__", None)
                if server is not None and hasattr(server, "force_exit"):
                    server.force_exit = True
                uvicorn_handler(signum, frame)
                return
            self.draining = True
            log.warning("SIGTERM: answering for %.1f s more, with Connection: close", self.grace_seconds)
            stop: Callable[[], Any] = lambda: uvicorn_handler(signum, frame)  # noqa: E731
            loop.call_soon_threadsafe(loop.call_later, self.grace_seconds, stop)

        signal.signal(signal.SIGTERM, on_sigterm)

    def closing(self, send: Send) -> Send:
        """``send`` that adds ``Connection: close`` to the response head."""

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        return closing_send
