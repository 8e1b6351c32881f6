"""Reading a request body without ever holding more than the limit."""

from __future__ import annotations

from starlette.types import Receive


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_limited(receive: Receive, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``limit`` (chunked uploads included).

    A stalled body is the protocol's business (``ingest.protocol``): it answers 408 and closes, and the
    wait here ends with a disconnect.
    """
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
