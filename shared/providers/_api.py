"""What the providers' status clients have in common: reading replies leniently, bearer tokens fetched once
and shared, and the answers every API gives alike (rate limits, server errors, replies that do not parse)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from shared.status_api import Answer, ApiContext, Reply

# A token is renewed this long before it expires: a request never carries one that dies on the way.
TOKEN_MARGIN_SECONDS = 60.0
# Longest wait a Retry-After may ask for (a provider's typo must not stop queries for a year).
MAX_RETRY_AFTER_SECONDS = 3600.0


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def token_name(provider: str, *credentials: str) -> str:
    """Where a token for these credentials is kept: new credentials (a rotation) never reuse an old token,
    and the name holds no secret."""
    digest = hashlib.sha256("\x00".join(credentials).encode()).hexdigest()[:16]
    return f"{provider}:{digest}"


def document(reply: Reply) -> Any:
    """The reply's JSON, or None when it is not JSON (an HTML error page, a truncated body)."""
    try:
        return orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None


def dig(doc: Any, path: str) -> Any:
    """The value at dotted ``path`` of a parsed answer, or None; never raises on an unexpected shape."""
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait, from a Retry-After header in seconds or as an HTTP date; None without one."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw) if raw.isascii() and raw.replace(".", "", 1).isdigit() else None
        if seconds is None:
            moment = parsedate_to_datetime(raw)
            seconds = moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def refused(reply: Reply, now: float, *, rate_limited: bool = False) -> Answer | None:
    """The answer for a reply that tells nothing about the payment (rate limited, a server error, a gateway
    timeout), or None when the reply is the provider's word on it."""
    if reply.status == 429 or rate_limited:
        return Answer.unavailable(f"rate limited (HTTP {reply.status})", retry_after(reply.headers, now))
    if reply.status >= 500 or reply.status == 408:
        return Answer.unavailable(f"HTTP {reply.status}", retry_after(reply.headers, now))
    return None


def malformed(reply: Reply, what: str) -> Answer:
    return Answer.unavailable(f"HTTP {reply.status}: {what}")


async def bearer(
    api: ApiContext, name: str, fetch: Callable[[], Awaitable[tuple[str, float] | Answer]]
) -> str | Answer:
    """A bearer token for ``name``: the shared one while it lives, else a new one from ``fetch`` (the token
    and its lifetime in seconds), kept for every process until shortly before it expires."""
    token = await api.tokens.get(name)
    if token is not None:
        return token
    fetched = await fetch()
    if isinstance(fetched, Answer):
        return fetched
    token, lifetime = fetched
    if lifetime > TOKEN_MARGIN_SECONDS:
        await api.tokens.put(name, token, lifetime - TOKEN_MARGIN_SECONDS)
    return token


async def with_bearer(
    api: ApiContext,
    name: str,
    fetch: Callable[[], Awaitable[tuple[str, float] | Answer]],
    call: Callable[[str], Awaitable[Reply | Answer]],
    expired: Callable[[Reply], bool],
) -> Reply | Answer:
    """``call`` with a shared token; a token the provider refuses (``expired``) is renewed once."""
    for attempt in range(2):
        token = await bearer(api, name, fetch)
        if isinstance(token, Answer):
            return token
        reply = await call(token)
        if isinstance(reply, Answer) or not expired(reply):
            return reply
        await api.tokens.drop(name, token)
        if attempt == 1:
            return Answer.unavailable(f"HTTP {reply.status}: the provider refused a new token too")
    raise AssertionError("unreachable")  # pragma: no cover


def lifetime(value: Any, default: float) -> float:
    """A token's lifetime as the provider states it: a number, or a string of one (Pivot's ``"900"``)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    return default
