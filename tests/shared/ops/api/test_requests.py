"""Reading admin requests, built by hand (no server, no I/O): text without NUL, bounded whole numbers, ids,
a JSON object body (empty is an empty object), bodies over the cap refused by their declared length or as
they stream in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from starlette.requests import Request

from shared.ops.api.requests import (
    MAX_BODY_BYTES,
    AdminBodyTooLarge,
    BadQuery,
    as_id,
    as_int,
    as_json,
    as_text,
    body_object,
    read_capped,
)


def _request(
    query: bytes = b"", chunks: tuple[bytes, ...] = (), headers: list[tuple[bytes, bytes]] | None = None
) -> Request:
    messages = [{"type": "http.request", "body": c, "more_body": n < len(chunks) - 1} for n, c in enumerate(chunks)]
    messages = messages or [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": query, "headers": headers or []}
    return Request(scope, receive)


def test_text_without_nul() -> None:
    assert as_text("pivot", "provider") == "pivot" and as_text("", "provider") is None and as_text(None, "p") is None
    with pytest.raises(BadQuery, match="provider"):
        as_text("piv\x00ot", "provider")


def test_bounded_whole_numbers_and_ids() -> None:
    assert as_int(_request(b"limit=20"), "limit", 50, 1, 1000) == 20
    assert as_int(_request(), "limit", 50, 1, 1000) == 50
    for raw in (b"limit=0", b"limit=1001", b"limit=-1", b"limit=1e3", b"limit=%D9%A3"):
        with pytest.raises(BadQuery, match="limit"):
            as_int(_request(raw), "limit", 50, 1, 1000)
    assert as_id("42", "letter") == 42
    for text in ("", "4.2", "x", "9" * 19, "٣"):
        with pytest.raises(BadQuery, match="letter"):
            as_id(text, "letter")


def test_a_body_is_a_json_object_and_an_empty_one_is_empty() -> None:
    assert asyncio.run(body_object(_request(chunks=(b'{"a":', b" 1}")))) == {"a": 1}
    assert asyncio.run(body_object(_request(chunks=(b"  ",)))) == {}
    for body in (b"[1]", b"{", b'"text"'):
        with pytest.raises(BadQuery):
            asyncio.run(body_object(_request(chunks=(body,))))


def test_a_body_over_the_cap_is_refused_by_its_length_or_as_it_streams() -> None:
    declared = [(b"content-length", str(MAX_BODY_BYTES + 1).encode())]
    with pytest.raises(AdminBodyTooLarge):
        asyncio.run(read_capped(_request(headers=declared), MAX_BODY_BYTES))
    with pytest.raises(AdminBodyTooLarge):
        asyncio.run(read_capped(_request(chunks=(b"x" * 60, b"x" * 60)), 100))
    assert asyncio.run(read_capped(_request(chunks=(b"x" * 50, b"x" * 50)), 100)) == b"x" * 100


def test_answers_are_json_with_anything_as_text() -> None:
    answer = as_json({"at": datetime(2026, 1, 1, tzinfo=UTC)}, status=201)
    assert answer.status_code == 201 and answer.media_type == "application/json"
    assert orjson.loads(answer.body) == {"at": "2026-01-01T00:00:00+00:00"}
