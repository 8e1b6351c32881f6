"""The gate in front of each provider's API: it logs every request and applies the provider's fault.

A fault stands where the real one would: in front of authentication (a gateway's 429 or 502 never looks at
the token), so a faulted request never reaches the provider's handler, but for the faults that corrupt the
provider's own answer (``malformed``, ``truncated``, ``not_found_as_200``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from shared.providers._standin.core import AUTH_FAILURE, Clock, Fault, Faults, RequestLog, Seen, StandIn, Surface

# The scope key under which the app leaves a way to drop the client's connection (see StandInApp).
DROP = "payhook.standin.drop"
_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_REASONS = {404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}


class Gate:
    def __init__(self, provider: StandIn, surface: Surface, clock: Clock, faults: Faults, log: RequestLog) -> None:
        self._provider = provider
        self._surface = surface
        self._clock = clock
        self._faults = faults
        self._log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._surface.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        seen = Seen(
            provider=self._provider.name,
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            time=self._clock.now(),
        )
        fault = self._faults.applying(self._provider.name, self._surface.is_token(_below(scope)))
        try:
            if fault is None:
                seen.status = await self._pass(scope, receive, send)
            else:
                seen.fault = fault.mode
                seen.status = await self._faulted(fault, scope, receive, send)
        finally:
            seen.auth_failure = state.get(AUTH_FAILURE)
            self._log.add(seen)

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> int | None:
        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self._surface.app(scope, receive, watch)
        return status

    async def _faulted(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> int | None:
        if fault.mode == "not_found_as_200":
            status, headers, body = await self._captured(scope, receive)
            if status == 404:
                self._faults.spend(fault)
                status = 200
            await _answer(send, status, headers, body)
            return status
        self._faults.spend(fault)
        if fault.mode == "slow":
            await asyncio.sleep(fault.seconds)
            return await self._pass(scope, receive, send)
        if fault.mode == "drop_connection":
            _drop(scope)
            return None
        if fault.mode in ("malformed", "truncated"):
            status, headers, body = await self._captured(scope, receive)
            await _answer(send, status, headers, _corrupt(body, fault.mode))
            return status
        if fault.mode == "html":
            status = fault.status or 502
            page = _HTML.format(status=status, reason=_REASONS.get(status, "Error")).encode()
            await _answer(send, status, [(b"content-type", b"text/html")], page)
            return status
        response = self._provider.fault_response(fault)
        if fault.mode == "rate_limit_retry_after":
            response.headers["Retry-After"] = str(fault.retry_after)
        await response(scope, receive, send)
        return response.status_code

    async def _captured(self, scope: Scope, receive: Receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The provider's whole answer, held back so that the fault can rewrite it."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._surface.app(scope, receive, keep)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        return int(start.get("status", 500)), headers, b"".join(chunks)


def _below(scope: Scope) -> str:
    """The request's path below the surface's prefix (the mount's ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _corrupt(body: bytes, mode: str) -> bytes:
    """``truncated``: the first half of the JSON, honestly framed. ``malformed``: the whole body with its
    first key-value colon replaced, so no JSON parser accepts it."""
    if mode == "truncated":
        return body[: len(body) // 2]
    return body.replace(b'":', b'"=', 1) if b'":' in body else b"{=" + body


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _drop(scope: Scope) -> None:
    drop: Callable[[], bool] | None = scope.get(DROP)
    if drop is None or not drop():
        # No socket to cut (an in-process test client): fail the request the way a reset would.
        raise ConnectionResetError("the stand-in dropped the connection")


def dropper(send: Send) -> Callable[[], bool]:
    """Cuts the client's connection without an answer. uvicorn passes its request cycle's bound ``send``,
    whose ``transport`` is the socket; elsewhere there is nothing to cut and this answers False."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)

    def drop() -> bool:
        if transport is None or not hasattr(transport, "abort"):
            return False
        transport.abort()
        return True

    return drop
