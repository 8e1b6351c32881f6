"""Reading a request body without ever holding more than the limit."""

from __future__ import annotations

import asyncio

from starlette.types import Receive


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class BodyTimeout(Exception):
    pass


async def read_limited(receive: Receive, limit: int, timeout: float) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``limit`` (chunked uploads included), or
    when it has not all arrived within ``timeout`` seconds (a stalled or trickling client)."""
    try:
        async with asyncio.timeout(timeout):
            return await _read(receive, limit)
    except TimeoutError:
        raise BodyTimeout from None


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
