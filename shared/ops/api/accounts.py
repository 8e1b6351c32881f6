"""The admin API's paths for merchant accounts: list, add, show, rotate or switch, remove. Secrets are taken in,
never given back (fingerprints instead)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import error
from shared.ops.api.requests import BadQuery, actor_of, as_json, as_text, body_object
from shared.ops.service import OperatorService

Handler = Callable[[Request], Awaitable[Response]]
_CHANGES = ("enabled", "credentials", "keep_previous")


def _credentials(document: dict[str, Any]) -> dict[str, str]:
    given = document.get("credentials", {})
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise BadQuery("credentials must be an object of strings (setting name: value)")
    return {str(k).lower(): v for k, v in given.items()}


class AccountRoutes:
    def __init__(self, ops: OperatorService) -> None:
        self.ops = ops

    def routes(self) -> list[tuple[str, Handler, list[str]]]:
        return [
            ("/accounts", self.list_or_add, ["GET", "POST"]),
            ("/accounts/{provider}/{name}", self.one, ["GET", "PATCH", "DELETE"]),
        ]

    async def list_or_add(self, request: Request) -> Response:
        if request.method == "GET":
            provider = as_text(request.query_params.get("provider"), "provider")
            return as_json(await run_in_threadpool(self.ops.accounts, provider))
        document = await body_object(request)
        unknown = sorted(set(document) - {"provider", "name", "credentials"})
        if unknown:
            raise BadQuery(f"unknown fields {', '.join(unknown)} (known: provider, name, credentials)")
        provider, name = document.get("provider"), document.get("name")
        if not isinstance(provider, str) or not isinstance(name, str):
            raise BadQuery("provider and name are required strings")
        added = await run_in_threadpool(
            lambda: self.ops.add_account(provider, name, _credentials(document), actor=actor_of(request))
        )
        return as_json(added, 201)

    async def one(self, request: Request) -> Response:
        provider = as_text(request.path_params["provider"], "provider") or ""
        name = as_text(request.path_params["name"], "name") or ""
        actor = actor_of(request)
        if request.method == "DELETE":
            kept = await run_in_threadpool(lambda: self.ops.remove_account(provider, name, actor=actor))
            return as_json({"removed": True, "payments_kept": kept})
        if request.method == "PATCH":
            return as_json(await self._change(request, provider, name, actor))
        found = await run_in_threadpool(self.ops.account, provider, name)
        return as_json(found) if found else error(404, "not_found", f"{provider} has no stored account {name!r}")

    async def _change(self, request: Request, provider: str, name: str, actor: str) -> dict[str, Any]:
        document = await body_object(request)
        unknown = sorted(set(document) - set(_CHANGES))
        if unknown or not document:
            raise BadQuery(f"change one of {', '.join(_CHANGES)}" + (f"; not {', '.join(unknown)}" if unknown else ""))
        changed: dict[str, Any] = {}
        if "credentials" in document:
            keep = document.get("keep_previous", 86400)
            if isinstance(keep, bool) or not isinstance(keep, int | float) or keep < 0:
                raise BadQuery("keep_previous is seconds, 0 or more")
            credentials = _credentials(document)
            changed = await run_in_threadpool(
                lambda: self.ops.rotate_account(provider, name, credentials, actor=actor, keep_previous=float(keep))
            )
        if "enabled" in document:
            enabled = document["enabled"]
            if not isinstance(enabled, bool):
                raise BadQuery("enabled must be true or false")
            changed = await run_in_threadpool(
                lambda: self.ops.set_account_enabled(provider, name, enabled, actor=actor)
            )
        return changed
