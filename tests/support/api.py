"""Provider APIs played from a script, for the status clients' unit tests: no network, no Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from shared.status_api import Answer, ApiContext, Reply

T = TypeVar("T")
# The documented Revenue Monster example's timestamp (STATUS_APIS.md §2.2): 2025-01-01T03:04:10Z.
NOW = 1735700650.0


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None

    def json(self) -> Any:
        return orjson.loads(self.body or b"null")

    def body_canonical(self) -> bytes:
        """The body as sorted compact JSON with ``<``, ``>``, ``&`` escaped (Revenue Monster's signed form)."""
        text = orjson.dumps(self.json(), option=orjson.OPT_SORT_KEYS).decode()
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def reply(status: int, doc: Any, **headers: str) -> Reply:
    """A reply whose body is ``doc`` as JSON (or as given, when bytes)."""
    body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return Reply(status, {k.replace("_", "-"): v for k, v in headers.items()}, body)


@dataclass
class Scripted:
    """Answers each request with the next reply of ``replies``; records what was sent."""

    replies: list[Reply | Answer]
    sent: list[Sent] = field(default_factory=list)

    async def __call__(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> Reply | Answer:
        self.sent.append(Sent(method, url, dict(headers), body))
        if not self.replies:
            raise AssertionError(f"no reply scripted for {method} {url}")
        return self.replies.pop(0)


@dataclass
class MemoryTokens:
    """Tokens kept in a dict, expiring on the test's clock."""

    clock: Callable[[], float]
    kept: dict[str, tuple[str, float]] = field(default_factory=dict)

    async def get(self, name: str) -> str | None:
        found = self.kept.get(name)
        return found[0] if found and found[1] > self.clock() else None

    async def put(self, name: str, token: str, seconds: float) -> None:
        self.kept[name] = (token, self.clock() + seconds)

    async def drop(self, name: str, token: str) -> None:
        if self.kept.get(name, ("",))[0] == token:
            del self.kept[name]


def context(script: Scripted, now: float = NOW) -> tuple[ApiContext, MemoryTokens]:
    clock = lambda: now  # noqa: E731
    tokens = MemoryTokens(clock)
    return ApiContext(send=script, tokens=tokens, clock=clock), tokens


def run(awaitable: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await awaitable

    return asyncio.run(wrapped())
