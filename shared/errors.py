"""The one JSON shape of every error answer: ``{"error": code, "message": text}``."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "too_large",
}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"error": code, "message": message})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """An unexpected failure: our shape, and nothing of the internals."""
    return error(500, "internal_error", "the request could not be handled")


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers, in our shape."""
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "error")
    return error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def ascii_digits(text: str) -> bool:
    """A whole number as a request may carry it: ASCII digits only (``str.isdigit()`` also takes "¹", which
    ``int()`` refuses)."""
    return text.isascii() and text.isdigit()
