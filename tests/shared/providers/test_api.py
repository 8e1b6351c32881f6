"""What the status clients share: lenient replies, Retry-After, the answers every API gives alike, bearer
tokens fetched once and renewed once when refused. No network: a token store in a dict."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping

from shared.providers._api import (
    MAX_RETRY_AFTER_SECONDS,
    TOKEN_MARGIN_SECONDS,
    basic,
    dig,
    document,
    lifetime,
    refused,
    retry_after,
    token_name,
    with_bearer,
)
from shared.status_api import Answer, ApiContext, Reply, Verdict

NOW = 1_750_000_000.0


class Tokens:
    def __init__(self) -> None:
        self.kept: dict[str, tuple[str, float]] = {}

    async def get(self, name: str) -> str | None:
        return self.kept[name][0] if name in self.kept else None

    async def put(self, name: str, token: str, seconds: float) -> None:
        self.kept[name] = (token, seconds)

    async def drop(self, name: str, token: str) -> None:
        if self.kept.get(name, ("",))[0] == token:
            del self.kept[name]


async def _no_send(method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None) -> Reply:
    raise AssertionError("no request expected")


def test_basic_and_token_names() -> None:
    assert base64.b64decode(basic("user", "pa:ss").removeprefix("Basic ")) == b"user:pa:ss"
    name = token_name("pivot", "id", "secret")
    assert name.startswith("pivot:") and "secret" not in name
    assert token_name("pivot", "id", "rotated") != name


def test_replies_are_read_leniently() -> None:
    assert document(Reply(200, {}, b'{"a": {"b": 1}}')) == {"a": {"b": 1}}
    assert document(Reply(502, {}, b"<html>bad gateway")) is None
    assert dig({"a": {"b": 1}}, "a.b") == 1
    assert dig({"a": [1]}, "a.b") is None and dig(None, "a") is None


def test_retry_after_in_seconds_or_as_a_date_and_capped() -> None:
    assert retry_after({"Retry-After": "30"}, NOW) == 30.0
    assert retry_after({"retry-after": "Wed, 18 Jun 2025 15:07:00 GMT"}, 1_750_259_200.0) == 20.0
    assert retry_after({"Retry-After": "99999999"}, NOW) == MAX_RETRY_AFTER_SECONDS
    assert retry_after({"Retry-After": "Wed, 01 Jan 2020 00:00:00 GMT"}, NOW) == 0.0
    assert retry_after({"Retry-After": "soon"}, NOW) is None
    assert retry_after({}, NOW) is None


def test_refused_for_rate_limits_and_server_errors_only() -> None:
    limited = refused(Reply(429, {"Retry-After": "5"}, b""), NOW)
    assert limited is not None and limited.verdict is Verdict.UNAVAILABLE and limited.retry_after == 5.0
    for status in (500, 503, 408):
        answer = refused(Reply(status, {}, b""), NOW)
        assert answer is not None and answer.verdict is Verdict.UNAVAILABLE
    assert refused(Reply(404, {}, b""), NOW) is None
    assert refused(Reply(200, {}, b""), NOW, rate_limited=True) is not None


def test_lifetime_as_the_provider_states_it() -> None:
    assert lifetime(900, 60.0) == 900.0
    assert lifetime(" 900 ", 60.0) == 900.0
    assert lifetime(True, 60.0) == 60.0
    assert lifetime("soon", 60.0) == 60.0


def test_a_token_is_fetched_once_kept_short_of_its_lifetime_and_renewed_once_when_refused() -> None:
    tokens, fetched, calls = Tokens(), [], []
    api = ApiContext(send=_no_send, tokens=tokens, clock=lambda: NOW)

    async def fetch() -> tuple[str, float]:
        fetched.append(1)
        return f"token-{len(fetched)}", 600.0

    async def call(token: str) -> Reply:
        calls.append(token)
        return Reply(401 if token == "token-1" and len(calls) == 2 else 200, {}, b"")

    def expired(reply: Reply) -> bool:
        return reply.status == 401

    async def run() -> list[Reply | Answer]:
        return [await with_bearer(api, "n", fetch, call, expired) for _ in range(3)]

    replies = asyncio.run(run())
    assert [r.status for r in replies if isinstance(r, Reply)] == [200, 200, 200]
    assert calls == ["token-1", "token-1", "token-2", "token-2"]
    assert tokens.kept["n"] == ("token-2", 600.0 - TOKEN_MARGIN_SECONDS)


def test_a_new_token_refused_too_is_an_unavailable_answer() -> None:
    api = ApiContext(send=_no_send, tokens=Tokens(), clock=lambda: NOW)

    async def fetch() -> tuple[str, float]:
        return "t", 600.0

    async def call(token: str) -> Reply:
        return Reply(401, {}, b"")

    answer = asyncio.run(with_bearer(api, "n", fetch, call, lambda reply: reply.status == 401))
    assert isinstance(answer, Answer) and answer.verdict is Verdict.UNAVAILABLE
