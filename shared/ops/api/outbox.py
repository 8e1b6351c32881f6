"""The admin API's outbox paths: endpoints (add, list, change, remove, rotate the secret) and deliveries
(list, show, retry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.canonical import DeliveryStatus
from shared.db.outbox import DeliveryFilters
from shared.errors import error
from shared.ops.api.requests import BadQuery, actor_of, as_id, as_int, as_json, as_text, body_object
from shared.ops.service import ROTATION_OVERLAP_SECONDS, OperatorService

Handler = Callable[[Request], Awaitable[Response]]
MAX_PAGE = 1000
_NO_ENDPOINT = "no such endpoint"


def _string_list(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "\x00" not in v for v in value):
        raise BadQuery(f"{name} must be a list of strings")
    return value or None


def _optional_text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and (not isinstance(value, str) or "\x00" in value):
        raise BadQuery(f"{name} must be a string")
    return value or None


def _changes(document: dict[str, Any]) -> dict[str, Any]:
    known = {"url", "events", "provider", "account", "enabled"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise BadQuery(f"unknown fields {', '.join(unknown)}; an endpoint has {', '.join(sorted(known))}")
    changes: dict[str, Any] = {}
    if "url" in document:
        url = _optional_text(document, "url")
        if url is None:
            raise BadQuery("url must be a URL")
        changes["url"] = url
    if "events" in document:
        changes["event_types"] = _string_list(document["events"], "events")
    if "provider" in document:
        changes["provider"] = _optional_text(document, "provider")
    if "account" in document:
        changes["account"] = _optional_text(document, "account")
    if "enabled" in document:
        if not isinstance(document["enabled"], bool):
            raise BadQuery("enabled must be true or false")
        changes["enabled"] = document["enabled"]
    return changes


class OutboxRoutes:
    def __init__(self, ops: OperatorService) -> None:
        self.ops = ops

    def routes(self) -> list[tuple[str, Handler, list[str]]]:
        return [
            ("/endpoints", self.endpoints, ["GET", "POST"]),
            ("/endpoints/{endpoint_id}", self.endpoint, ["GET", "PATCH", "DELETE"]),
            ("/endpoints/{endpoint_id}/rotate-secret", self.rotate, ["POST"]),
            ("/deliveries", self.deliveries, ["GET"]),
            ("/deliveries/retry", self.retry_matching, ["POST"]),
            ("/deliveries/{delivery_id}", self.delivery, ["GET"]),
            ("/deliveries/{delivery_id}/retry", self.retry_one, ["POST"]),
        ]

    async def endpoints(self, request: Request) -> Response:
        if request.method == "GET":
            return as_json({"items": await run_in_threadpool(self.ops.endpoints)})
        document = await body_object(request)
        changes = _changes(document)
        if "url" not in changes:
            raise BadQuery("url is required")
        made = await run_in_threadpool(
            lambda: self.ops.add_endpoint(
                changes["url"],
                changes.get("event_types"),
                changes.get("provider"),
                actor=actor_of(request),
                account=changes.get("account"),
            )
        )
        return as_json(made, status=201)

    async def endpoint(self, request: Request) -> Response:
        endpoint_id = as_id(request.path_params["endpoint_id"], "an endpoint")
        if request.method == "DELETE":
            removed = await run_in_threadpool(lambda: self.ops.remove_endpoint(endpoint_id, actor=actor_of(request)))
            return Response(status_code=204) if removed else error(404, "not_found", _NO_ENDPOINT)
        if request.method == "PATCH":
            changes = _changes(await body_object(request))
            found = await run_in_threadpool(
                lambda: self.ops.change_endpoint(endpoint_id, changes, actor=actor_of(request))
            )
        else:
            found = await run_in_threadpool(self.ops.endpoint, endpoint_id)
        return as_json(found) if found else error(404, "not_found", _NO_ENDPOINT)

    async def rotate(self, request: Request) -> Response:
        endpoint_id = as_id(request.path_params["endpoint_id"], "an endpoint")
        keep = (await body_object(request)).get("keep_previous_seconds", ROTATION_OVERLAP_SECONDS)
        if isinstance(keep, bool) or not isinstance(keep, int | float) or not 0 <= keep <= 30 * 86400:
            raise BadQuery("keep_previous_seconds must be a number of seconds from 0 to 2592000")
        rotated = await run_in_threadpool(
            lambda: self.ops.rotate_secret(endpoint_id, float(keep), actor=actor_of(request))
        )
        return as_json(rotated) if rotated else error(404, "not_found", _NO_ENDPOINT)

    async def deliveries(self, request: Request) -> Response:
        filters = _delivery_filters(request)
        limit = as_int(request, "limit", 50, 1, MAX_PAGE)
        before = as_int(request, "before", 0, 0, 10**18) or None
        items = await run_in_threadpool(lambda: self.ops.deliveries(filters, limit=limit + 1, before=before))
        more = len(items) > limit
        return as_json({"items": items[:limit], "next_before": items[limit - 1]["id"] if more else None})

    async def delivery(self, request: Request) -> Response:
        found = await run_in_threadpool(self.ops.delivery, as_id(request.path_params["delivery_id"], "a delivery"))
        return as_json(found) if found else error(404, "not_found", "no such delivery")

    async def retry_one(self, request: Request) -> Response:
        delivery_id = as_id(request.path_params["delivery_id"], "a delivery")
        done = await run_in_threadpool(lambda: self.ops.retry_deliveries([delivery_id], actor=actor_of(request)))
        if done:
            return as_json({"retried": done})
        exists = await run_in_threadpool(self.ops.delivery, delivery_id)
        if exists is None:
            return error(404, "not_found", "no such delivery")
        return error(409, "in_flight", "the delivery is being sent right now")

    async def retry_matching(self, request: Request) -> Response:
        filters = _delivery_filters(request)
        if filters.status is None:
            raise BadQuery("give status (failed, usually), and endpoint if you like, to choose what to retry")
        ids = await run_in_threadpool(self.ops.matching_deliveries, filters)
        done = await run_in_threadpool(lambda: self.ops.retry_deliveries(ids, actor=actor_of(request), filters=filters))
        return as_json({"retried": done})


def _delivery_filters(request: Request) -> DeliveryFilters:
    given = as_text(request.query_params.get("status"), "status")
    try:
        status = None if given is None else DeliveryStatus(given)
    except ValueError:
        raise BadQuery(f"status must be one of {', '.join(DeliveryStatus)}") from None
    endpoint = as_int(request, "endpoint", 0, 1, 10**18) if "endpoint" in request.query_params else None
    return DeliveryFilters(endpoint_id=endpoint, status=status)
