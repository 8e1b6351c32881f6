"""One attempt: POST the event to an HTTP endpoint, signed per Standard Webhooks, or call a Python handler.

Never raises: whatever happens becomes a ``Result`` (status code, the first KB of the answer, or the error).
Redirects are not followed (a 3xx is a failed attempt); connect and read timeouts bound every attempt.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from shared import addresses, webhooks
from workers.delivery.schedule import retry_after_seconds
from workers.delivery.store import RESPONSE_BYTES, Claim, Result

USER_AGENT = "payhook-webhooks/1"
Handler = Callable[[dict[str, Any]], Any]


class Sender:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        handlers: Mapping[str, Callable[[], Handler]],
        *,
        allowed_hosts: tuple[str, ...],
        timeout_seconds: float,
        executor: Executor | None = None,
    ) -> None:
        self.executor = executor
        self.http = http
        self.handlers = handlers
        self.allowed_hosts = allowed_hosts
        self.timeout_seconds = timeout_seconds

    async def attempt(self, claim: Claim) -> Result:
        started = time.perf_counter()
        result = Result(claim, datetime.now(UTC), 0.0)
        try:
            if claim.kind == "handler":
                await self._call(claim, result)
            else:
                await self._post(claim, result)
        except Exception as exc:  # an attempt must always end in a recorded result
            result.error = f"{type(exc).__name__}: {exc}"
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    async def _post(self, claim: Claim, result: Result) -> None:
        assert claim.url is not None
        try:
            webhooks.check_url(claim.url, self.allowed_hosts)
        except webhooks.EndpointRefused as exc:
            result.error, result.permanent = str(exc), True
            return
        headers = webhooks.headers(claim.secrets, claim.event_id, int(time.time()), claim.body)
        headers["user-agent"] = USER_AGENT
        try:
            async with self.http.post(claim.url, data=claim.body, headers=headers, allow_redirects=False) as answer:
                result.status_code = answer.status
                result.retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
                first = await answer.content.read(RESPONSE_BYTES)
                result.response = first.decode("utf-8", errors="replace")
        except TimeoutError:
            result.error = "timed out (connect or read)"
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, addresses.AddressRefused)
            result.error = f"{'refused' if refused else 'could not connect'}: {exc.os_error or exc}"
        except aiohttp.ClientError as exc:
            result.error = f"{type(exc).__name__}: {exc}"

    async def _call(self, claim: Claim, result: Result) -> None:
        assert claim.handler is not None
        load = self.handlers.get(claim.handler)
        if load is None:
            result.error = f"no handler named {claim.handler!r} is installed here (entry-point group payhook.handlers)"
            return
        event = orjson.loads(claim.body)
        try:
            handler = load()
            if inspect.iscoroutinefunction(handler):
                await asyncio.wait_for(handler(event), self.timeout_seconds)
            else:
                call = asyncio.get_running_loop().run_in_executor(self.executor, handler, event)
                await asyncio.wait_for(call, self.timeout_seconds)
        except TimeoutError:
            result.error = f"handler {claim.handler!r} did not return within {self.timeout_seconds:g} s"
        except Exception as exc:
            # The summary first (what lists show), then the traceback's end (what the handler's author needs).
            trace = "".join(traceback.format_exception(exc))
            result.error = f"{type(exc).__name__}: {exc}\n{trace[-1500:]}"
