"""One delivery attempt, which never raises: an event POSTed to a local endpoint signed per Standard Webhooks
(checked with the reference verifier), its answer, a redirect not followed, a host outside the allow-list
failed for good; a Python handler called (sync or async), failing, or not installed. Loopback only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from standardwebhooks.webhooks import Webhook

from shared import webhooks
from tests.support.hooks import Answer, Endpoint, Received
from tests.support.net import free_port
from workers.delivery.send import USER_AGENT, Handler, Sender
from workers.delivery.store import Claim, Result

SECRET = webhooks.new_secret()
BODY = b'{"id": "evt_1", "type": "payment.paid"}'


def _claim(url: str | None = None, handler: str | None = None) -> Claim:
    kind = "handler" if handler else "webhook"
    return Claim(1, 1, 1, 1, "evt_1", BODY, datetime.now(UTC), kind, url, handler, (SECRET,))


def _attempt(
    claim: Claim, handlers: dict[str, Callable[[], Handler]] | None = None, allowed: tuple[str, ...] = ()
) -> Result:
    async def run() -> Result:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            sender = Sender(http, handlers or {}, allowed_hosts=allowed, timeout_seconds=1.0)
            return await sender.attempt(claim)

    return asyncio.run(run())


def test_an_event_is_posted_signed_and_its_answer_kept() -> None:
    def answer(received: Received, n: int) -> Answer:
        return Answer(status=503, headers={"Retry-After": "7"}, body=b"x" * 5000)

    with Endpoint(answer) as endpoint:
        result = _attempt(_claim(endpoint.url))
        [received] = endpoint.received
    assert (result.status_code, result.retry_after, result.error) == (503, 7.0, None)
    assert result.response == "x" * 1024 and not result.delivered
    assert received.body == BODY and received.headers["user-agent"] == USER_AGENT
    assert Webhook(SECRET).verify(received.body, received.headers) == {"id": "evt_1", "type": "payment.paid"}


def test_a_redirect_is_not_followed_and_nothing_listening_is_an_error() -> None:
    with Endpoint(lambda _r, _n: Answer(status=302, headers={"Location": "http://127.0.0.1:9/"})) as endpoint:
        redirected = _attempt(_claim(endpoint.url))
    assert redirected.status_code == 302 and not redirected.delivered
    refused = _attempt(_claim(f"http://127.0.0.1:{free_port()}/hooks"))
    assert refused.status_code is None and refused.error is not None and "could not connect" in refused.error


def test_a_host_outside_the_allow_list_fails_for_good_without_a_request() -> None:
    with Endpoint() as endpoint:
        result = _attempt(_claim(endpoint.url), allowed=("*.merchant.example",))
        assert endpoint.received == []
    assert result.permanent and result.error is not None


def test_handlers_sync_async_failing_and_missing() -> None:
    seen: list[dict[str, Any]] = []

    async def async_handler(event: dict[str, Any]) -> None:
        seen.append(event)

    def failing(event: dict[str, Any]) -> None:
        raise KeyError("order")

    handlers: dict[str, Callable[[], Handler]] = {
        "sync": lambda: seen.append,
        "async": lambda: async_handler,
        "failing": lambda: failing,
    }
    assert _attempt(_claim(handler="sync"), handlers).delivered
    assert _attempt(_claim(handler="async"), handlers).delivered
    assert seen == [{"id": "evt_1", "type": "payment.paid"}] * 2
    failed = _attempt(_claim(handler="failing"), handlers)
    assert failed.error is not None and failed.error.startswith("KeyError: 'order'") and "Traceback" in failed.error
    missing = _attempt(_claim(handler="nowhere"), handlers)
    assert missing.error is not None and "nowhere" in missing.error
