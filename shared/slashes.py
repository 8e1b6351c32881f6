"""Trailing-slash redirects that name no host.

Starlette's routers answer ``/healthz/`` with a 307 to the absolute URL built from the request's ``Host``
header: anyone can make the server hand out a redirect to a host of their choosing (cache poisoning, links in
logs and consoles). Here the ``Location`` is the path alone, which a client resolves against the URL it asked.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Match, Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["SlashRedirects", "relative_redirects"]


class SlashRedirects:
    """A router's default app: a 307 to the path with its trailing slash added or removed when that path has
    a route, else the router's own not-found answer."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.fallback: ASGIApp = router.default
        router.redirect_slashes = False
        router.default = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = self._location(scope) if scope["type"] == "http" else None
        if location is None:
            await self.fallback(scope, receive, send)
            return
        await RedirectResponse(location, status_code=307)(scope, receive, send)

    def _location(self, scope: Scope) -> str | None:
        path: str = scope["path"]
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        # "//host/..." is a network-path reference: a client would go to that host. Never redirect there.
        if not other.startswith("/") or other.startswith("//") or path == scope.get("root_path", "") + "/":
            return None
        moved = {**scope, "path": other}
        if not any(route.matches(moved)[0] is not Match.NONE for route in self.router.routes):
            return None
        # quote() escapes "\" too: some browsers read "/\host" as "//host".
        query = scope.get("query_string", b"").decode("latin-1")
        return quote(other) + (f"?{query}" if query else "")


def relative_redirects(app: Starlette | Router) -> None:
    """Install ``SlashRedirects`` on ``app``'s router and on every router mounted below it."""
    router = app.router if isinstance(app, Starlette) else app
    if isinstance(router.default, SlashRedirects):
        return
    SlashRedirects(router)
    for route in router.routes:
        if isinstance(route, Mount) and isinstance(route.app, Starlette | Router):
            relative_redirects(route.app)
