"""The control API under ``/_sim``: JSON in and out, no authentication (the stand-in listens on loopback
only). It sets payments, sends their callbacks, injects faults, moves the clock and shows the requests seen.

- ``PUT /{provider}/payments`` (the provider's own field names) creates or replaces a payment and answers it
  as the API shows it (201 when created); ``GET`` lists them. ``GET``/``PATCH``/``DELETE
  /{provider}/payments/{id}`` (its id, or the merchant's reference) shows, changes or forgets one.
- ``POST /{provider}/payments/{id}/callback`` ``{"url", "event"?, "copies"?, "delay_ms"?, "drop"?,
  "hold"?, "refund_id"?}`` sends the callback of the payment's current state, signed as the provider signs
  it, to a loopback URL; ``POST /callbacks/release`` ``{"order": "as_held"|"reverse"|"shuffle", "seed"?}``
  sends the held ones; ``GET /callbacks`` shows the held and the sent.
- ``PUT /faults`` ``{"provider", "mode", "count"?, "seconds"?, "retry_after"?, "status"?, "code"?,
  "scope"?: "all"|"api"}``, ``GET /faults``, ``DELETE /faults[?provider=]``.
- ``POST /clock`` ``{"advance"?: s, "set"?: unix}``, ``GET /clock``; ``GET /requests[?provider=]``;
  ``POST /reset``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.providers._standin.callbacks import MAX_COPIES, describe, loopback_url
from shared.providers._standin.core import (
    FAULT_MODES,
    PROVIDERS,
    ControlError,
    Fault,
    StandIn,
    check_fields,
    choice,
    json_response,
    whole,
)
from shared.providers._standin.world import World

Handler = Callable[[Request], Awaitable[Response]]
_FAULT_FIELDS = ("provider", "mode", "count", "seconds", "retry_after", "status", "code", "scope")
_CALLBACK_FIELDS = ("url", "event", "copies", "delay_ms", "drop", "hold", "refund_id")
_RM_RATE_CODES = ("EXCEEDED_LIMIT", "TOO_MANY_REQUEST_PER_SECOND")


def control_app(world: World) -> Starlette:
    api = Control(world)
    routes = [
        Route("/{provider}/payments", api.handle(api.payments), methods=["GET", "PUT"]),
        Route("/{provider}/payments/{key}", api.handle(api.payment), methods=["GET", "PATCH", "DELETE"]),
        Route("/{provider}/payments/{key}/callback", api.handle(api.callback), methods=["POST"]),
        Route("/callbacks", api.handle(api.callbacks), methods=["GET"]),
        Route("/callbacks/release", api.handle(api.release), methods=["POST"]),
        Route("/faults", api.handle(api.faults), methods=["GET", "PUT", "DELETE"]),
        Route("/clock", api.handle(api.clock), methods=["GET", "POST"]),
        Route("/requests", api.handle(api.requests), methods=["GET"]),
        Route("/reset", api.handle(api.reset), methods=["POST"]),
    ]
    return Starlette(routes=routes)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ControlError(400, "the body must be a JSON object") from None
    if not isinstance(doc, dict):
        raise ControlError(400, "the body must be a JSON object")
    return doc


class Control:
    def __init__(self, world: World) -> None:
        self._world = world

    def handle(self, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except ControlError as refused:
                return json_response({"error": refused.message}, refused.status)

        return run

    def _provider(self, request: Request) -> StandIn:
        name = request.path_params["provider"]
        if name not in self._world.providers:
            raise ControlError(404, f"no provider {name!r}; known: {', '.join(PROVIDERS)}")
        return self._world.providers[name]

    async def payments(self, request: Request) -> Response:
        provider = self._provider(request)
        if request.method == "GET":
            return json_response({"payments": provider.listing()})
        view, created = provider.put(await _body(request))
        return json_response(view, 201 if created else 200)

    async def payment(self, request: Request) -> Response:
        provider = self._provider(request)
        key = request.path_params["key"]
        if request.method == "PATCH":
            return json_response(provider.patch(key, await _body(request)))
        if request.method == "DELETE":
            provider.delete(key)
            return Response(status_code=204)
        return json_response(provider.show(key))

    async def callback(self, request: Request) -> Response:
        provider = self._provider(request)
        options = await _body(request)
        check_fields(options, _CALLBACK_FIELDS, "callback")
        url = loopback_url(options.get("url"))
        event = options.get("event")
        if event is not None and not isinstance(event, str):
            raise ControlError(400, "event must be a string")
        outgoing = provider.notification(request.path_params["key"], event, options)
        outgoing.url = url
        copies = whole(options, "copies", 1, low=1)
        if copies > MAX_COPIES:
            raise ControlError(400, f"copies must be at most {MAX_COPIES}")
        fates = await self._world.courier.dispatch(
            outgoing,
            copies=copies,
            delay_ms=min(whole(options, "delay_ms", 0), 60_000),
            drop=options.get("drop") is True,
            hold=options.get("hold") is True,
        )
        return json_response({**describe(outgoing), "copies": fates})

    async def callbacks(self, request: Request) -> Response:
        courier = self._world.courier
        return json_response({"held": [describe(o) for o in courier.held], "sent": list(courier.sent)})

    async def release(self, request: Request) -> Response:
        options = await _body(request)
        check_fields(options, ("order", "seed"), "release")
        order = choice(options, "order", ("as_held", "reverse", "shuffle"), "as_held")
        seed = options.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ControlError(400, "seed must be a whole number")
        return json_response({"released": await self._world.courier.release(order, seed)})

    async def faults(self, request: Request) -> Response:
        faults = self._world.faults
        if request.method == "PUT":
            fault = fault_from(await _body(request))
            faults.put(fault)
            return json_response(fault.view())
        if request.method == "DELETE":
            provider = request.query_params.get("provider")
            faults.clear(provider)
        return json_response({"faults": faults.views()})

    async def clock(self, request: Request) -> Response:
        clock = self._world.clock
        if request.method == "POST":
            doc = await _body(request)
            check_fields(doc, ("advance", "set"), "clock")
            if "set" in doc:
                clock.set(_number(doc, "set"))
            if "advance" in doc:
                clock.advance(_number(doc, "advance"))
        return json_response({"now": clock.now(), "offset": clock.offset})

    async def requests(self, request: Request) -> Response:
        return json_response({"requests": self._world.log.views(request.query_params.get("provider"))})

    async def reset(self, request: Request) -> Response:
        self._world.reset()
        return json_response({"reset": True})


def _number(doc: Mapping[str, Any], name: str) -> float:
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(400, f"{name} must be a number of seconds")
    return float(value)


def fault_from(doc: Mapping[str, Any]) -> Fault:
    check_fields(doc, _FAULT_FIELDS, "fault")
    provider = choice(doc, "provider", PROVIDERS)
    mode = choice(doc, "mode", FAULT_MODES)
    if mode == "not_found_as_200" and provider != "midtrans":
        raise ControlError(400, "not_found_as_200 is Midtrans's ambiguity; the others answer 404")
    fault = Fault(provider, mode, scope=choice(doc, "scope", ("all", "api"), "all"))
    if doc.get("count") is not None:
        fault.remaining = whole(doc, "count", low=1)
    if "seconds" in doc:
        fault.seconds = min(_number(doc, "seconds"), 600.0)
    fault.retry_after = whole(doc, "retry_after", 1)
    if doc.get("status") is not None:
        low = 500 if mode == "server_error" else 400
        if mode not in ("server_error", "html") or not low <= whole(doc, "status") <= 599:
            raise ControlError(400, "status applies to server_error (500-599) and html (400-599) only")
        fault.status = whole(doc, "status")
    if doc.get("code") is not None:
        if provider != "revenue-monster" or (mode.startswith("rate_limit") and doc["code"] not in _RM_RATE_CODES):
            codes = ", ".join(_RM_RATE_CODES)
            raise ControlError(400, f"code names Revenue Monster's error code ({codes} for a rate limit)")
        fault.code = str(doc["code"])
    return fault
