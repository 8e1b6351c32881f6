"""The admin API (``/admin/*``): payments, the dead-letter queue, jobs, the audit trail and the outbox, behind a
bearer token.

Served by the web process, off the callback path: its connections are made on first use, and its blocking
calls run in the thread pool. Unset ``PAYHOOK_ADMIN_TOKEN`` and every admin path answers 404; set it, and a
missing token and a wrong one get the very same 401.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from functools import cached_property

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from shared.db.letter_filters import BadFilter
from shared.errors import error
from shared.ops.api.accounts import AccountRoutes
from shared.ops.api.letters import LetterRoutes
from shared.ops.api.outbox import OutboxRoutes
from shared.ops.api.reconcile import ReconcileRoutes
from shared.ops.api.requests import AdminBodyTooLarge, BadQuery
from shared.ops.service import OperatorService, Refused
from shared.settings import Settings
from shared.slashes import relative_redirects

__all__ = ["AdminApi"]

Handler = Callable[[Request], Awaitable[Response]]


class AdminApi:
    def __init__(self, settings: Settings, ops: OperatorService | None = None) -> None:
        self.ops = ops or OperatorService(settings)
        self._digests = [(_digest(token), actor) for token, actor in settings.actors.items()]

    def actor(self, authorization: str) -> str | None:
        """The named token's actor, or None. Every token is compared, in constant time each, whatever
        matched: the time taken says nothing about which token, or which part of one, was close. The scheme's
        name is case-insensitive (RFC 9110 section 11.1): ``bearer`` is as good as ``Bearer``."""
        scheme, _, token = authorization.partition(" ")
        token = token.lstrip(" ")
        given = _digest(token)
        found = None
        for digest, actor in self._digests:
            if hmac.compare_digest(given, digest):
                found = actor
        return found if scheme.lower() == "bearer" and token else None

    async def gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Token first, before any routing: without it nothing about the admin API shows, not even which
        paths or methods exist."""
        if not self._digests:
            await error(404, "not_found", "not found")(scope, receive, send)
            return
        actor = self.actor(Headers(scope=scope).get("authorization", ""))
        if actor is None:
            denied = error(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
            await denied(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self._router(scope, receive, send)

    @cached_property
    def _router(self) -> Router:
        def handled(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    return await handler(request)
                except (BadQuery, BadFilter) as exc:
                    return error(400, "bad_request", str(exc))
                except Refused as exc:
                    return error(422, "refused", str(exc))
                except AdminBodyTooLarge as exc:
                    return error(413, "too_large", str(exc), {"Connection": "close"})

            return endpoint

        # Reconciliation's fixed paths (/payments/expected) come before the lookup's pattern.
        routes = [
            *ReconcileRoutes(self.ops).routes(),
            *LetterRoutes(self.ops).routes(),
            *OutboxRoutes(self.ops).routes(),
            *AccountRoutes(self.ops).routes(),
        ]
        router = Router([Route(path, handled(handler), methods=methods) for path, handler, methods in routes])
        relative_redirects(router)
        return router

    def mount(self) -> Mount:
        return Mount("/admin", app=self.gate)


def _digest(text: str) -> bytes:
    # Digests of equal length: comparing them says nothing about a token's length.
    return hashlib.sha256(text.encode("latin-1", errors="replace")).digest()
