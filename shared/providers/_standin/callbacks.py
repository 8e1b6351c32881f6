"""Sending callbacks as the providers would, to loopback receivers only: now, late, several times, never
(dropped), or held back and released later in another order."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from shared.providers._standin.core import ControlError, Outgoing

# Receivers are local and answer in milliseconds; a hung one must not hang the control API for long.
TIMEOUT_SECONDS = 15.0
MAX_COPIES = 20
KEPT = 1000


def loopback_url(url: Any) -> str:
    """``url`` if it is http(s) to a loopback address (127.0.0.0/8 or ::1), written as an address: a name
    could resolve anywhere, and the stand-in never sends traffic off this machine."""
    if not isinstance(url, str):
        raise ControlError(400, "url must be a string such as http://127.0.0.1:8000/callbacks/pivot")
    parts = urlsplit(url)
    try:
        address = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        named = parts.hostname
        raise ControlError(400, f"url must name a loopback address (127.0.0.1 or [::1]), not {named!r}") from None
    if parts.scheme not in ("http", "https") or not address.is_loopback:
        raise ControlError(400, f"callbacks go to http(s) on loopback only, not {url!r}")
    return url


class Courier:
    def __init__(self) -> None:
        self.held: list[Outgoing] = []
        self.sent: deque[dict[str, Any]] = deque(maxlen=KEPT)

    def reset(self) -> None:
        self.held.clear()
        self.sent.clear()

    async def dispatch(
        self, outgoing: Outgoing, *, copies: int, delay_ms: int, drop: bool, hold: bool
    ) -> list[dict[str, Any]]:
        """Each copy's fate: dropped, held, or delivered with the receiver's status (or why it failed)."""
        if drop:
            return [{"outcome": "dropped"} for _ in range(copies)]
        if hold:
            self.held += [outgoing] * copies
            return [{"outcome": "held", "position": len(self.held) - copies + i} for i in range(copies)]
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        async with _session() as session:
            return [await self._post(session, outgoing) for _ in range(copies)]

    async def release(self, order: str, seed: int | None) -> list[dict[str, Any]]:
        held, self.held = self.held, []
        if order == "reverse":
            held.reverse()
        elif order == "shuffle":
            random.Random(seed).shuffle(held)
        async with _session() as session:
            return [{**describe(o), **await self._post(session, o)} for o in held]

    async def _post(self, session: aiohttp.ClientSession, outgoing: Outgoing) -> dict[str, Any]:
        try:
            # Never follow a redirect: it could lead off this machine.
            async with session.post(
                outgoing.url, data=outgoing.body, headers=outgoing.headers, allow_redirects=False
            ) as answer:
                text = (await answer.read())[:200].decode("utf-8", errors="replace")
                result: dict[str, Any] = {"outcome": "delivered", "status": answer.status, "answer": text}
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            result = {"outcome": "failed", "error": f"{type(exc).__name__}: {exc}"[:200]}
        self.sent.append({**describe(outgoing), **result})
        return result


def describe(outgoing: Outgoing) -> dict[str, Any]:
    """A callback for the control API's answers: the body as JSON (as sent), its headers and target."""
    try:
        body: Any = orjson.loads(outgoing.body)
    except orjson.JSONDecodeError:
        body = outgoing.body.decode("utf-8", errors="replace")
    return {
        "provider": outgoing.provider,
        "event": outgoing.event,
        "url": outgoing.url,
        "body": body,
        "headers": outgoing.headers,
    }


def _session() -> aiohttp.ClientSession:
    # trust_env stays off: no proxy from the environment ever carries a callback elsewhere.
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
