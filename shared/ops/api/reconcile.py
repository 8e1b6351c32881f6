"""The admin API's paths for reconciliation: ask a provider about one payment now, expect a payment the
merchant created, list the unresolved ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.ops.api.requests import BadQuery, actor_of, as_int, as_json, as_text, body_object
from shared.ops.service import OperatorService

Handler = Callable[[Request], Awaitable[Response]]
_EXPECTED_FIELDS = ("provider", "order_ref", "account", "provider_payment_id", "amount", "currency")


def _field(document: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = document.get(name)
    if value is None:
        if required:
            raise BadQuery(f"{name} is required")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and name == "amount":
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadQuery(f"{name} must be a non-empty string")
    return as_text(value.strip(), name)


class ReconcileRoutes:
    def __init__(self, ops: OperatorService) -> None:
        self.ops = ops

    def routes(self) -> list[tuple[str, Handler, list[str]]]:
        return [
            ("/payments/expected", self.expect, ["POST"]),
            ("/payments/unresolved", self.unresolved, ["GET"]),
            ("/payments/{provider}/{order_ref}/reconcile", self.reconcile, ["POST"]),
        ]

    async def reconcile(self, request: Request) -> Response:
        provider = as_text(request.path_params["provider"], "provider") or ""
        order_ref = as_text(request.path_params["order_ref"], "order_ref") or ""
        dry_run = request.query_params.get("dry_run", "false").lower() == "true"
        account = as_text(request.query_params.get("account"), "account") or "default"
        answer = await run_in_threadpool(
            lambda: self.ops.reconcile(provider, order_ref, actor=actor_of(request), dry_run=dry_run, account=account)
        )
        return as_json(answer)

    async def expect(self, request: Request) -> Response:
        document = await body_object(request)
        unknown = sorted(set(document) - set(_EXPECTED_FIELDS))
        if unknown:
            raise BadQuery(f"unknown fields {', '.join(unknown)} (known: {', '.join(_EXPECTED_FIELDS)})")
        account = _field(document, "account") or "default"
        provider, order_ref = _field(document, "provider", required=True), _field(document, "order_ref", required=True)
        assert provider is not None and order_ref is not None
        created_or_found = await run_in_threadpool(
            lambda: self.ops.expect(
                provider, order_ref, actor=actor_of(request), payment_id=_field(document, "provider_payment_id"),
                amount=_field(document, "amount"), currency=_field(document, "currency"), account=account,
            )
        )  # fmt: skip
        expected, created = created_or_found
        return as_json(expected, 201 if created else 200)

    async def unresolved(self, request: Request) -> Response:
        provider = as_text(request.query_params.get("provider"), "provider")
        limit = as_int(request, "limit", 100, 1, 1000)
        return as_json(await run_in_threadpool(lambda: self.ops.unresolved(provider=provider, limit=limit)))
