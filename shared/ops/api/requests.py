"""Reading admin requests and writing their answers: shared by the admin API's modules."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import ascii_digits


def as_json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document, default=str), status_code=status, media_type="application/json")


class BadQuery(ValueError):
    pass


class AdminBodyTooLarge(ValueError):
    pass


# An operator's request is a few hundred bytes of JSON; the cap only keeps one request from filling the web
# process's memory (it is read whole before parsing).
MAX_BODY_BYTES = 65_536


def as_text(value: str | None, name: str) -> str | None:
    """A query or path value as the database may take it (PostgreSQL text holds no NUL)."""
    if value and "\x00" in value:
        raise BadQuery(f"{name} holds a NUL character")
    return value or None


def as_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not ascii_digits(raw) or not low <= int(raw) <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def as_id(raw: str, what: str) -> int:
    if not ascii_digits(raw) or len(raw) > 18:
        raise BadQuery(f"{what} id is a whole number")
    return int(raw)


async def body_object(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is an empty object)."""
    raw = await read_capped(request, MAX_BODY_BYTES)
    if not raw.strip():
        return {}
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadQuery(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadQuery("the body must be a JSON object")
    return document


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``limit``: by its Content-Length before a
    byte is read, else while it streams in (chunked uploads)."""
    declared = request.headers.get("content-length", "")
    if ascii_digits(declared) and int(declared) > limit:
        raise AdminBodyTooLarge(f"the body is over the admin API's limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AdminBodyTooLarge(f"the body is over the admin API's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def actor_of(request: Request) -> str:
    """Who the audit trail names for this request: the name of the admin token it came with."""
    return str(request.state.actor)
