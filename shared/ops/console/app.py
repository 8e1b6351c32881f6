"""The console's routes: sign-in, then pages that read through the operator service, and forms that act
through it (audited under the signed-in token's name). Off the callback path: its own Starlette app under
``/console``, blocking calls in the thread pool. Every answer it makes, its own error pages included, carries
the security headers (``base.HEADERS``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from shared.errors import error
from shared.ops.console import overview
from shared.ops.console.account_pages import AccountPages
from shared.ops.console.activity import ActivityPages
from shared.ops.console.base import HERE, field, secure
from shared.ops.console.letters import LetterPages
from shared.ops.console.payment_pages import PaymentPages
from shared.ops.console.session import COOKIE, ConsoleSession

log = logging.getLogger(__name__)
Page = Callable[[Request, ConsoleSession], Awaitable[Response]]
FAVICON = HERE / "static" / "favicon.svg"
TITLES = {400: "Bad request", 404: "Not found", 405: "Not allowed", 413: "Too large"}


async def favicon(request: Request) -> Response:
    """``/favicon.ico``: browsers ask for it whatever the page says; the console's own SVG, for a day."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


FAVICON_ROUTE = Route("/favicon.ico", favicon, methods=["GET"])


class Console(LetterPages, PaymentPages, AccountPages, ActivityPages):
    def mount(self) -> Mount:
        return Mount("/console", app=self.app())

    def app(self) -> Starlette:
        def guarded(page: Page, *, write: bool = False) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return secure(await self._guard(request, page, write=write))

            return endpoint

        routes = [
            Route("/", guarded(self.home)),
            Route("/sign-in", self.sign_in_page, methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["POST"]),
            Route("/sign-out", guarded(self.sign_out, write=True), methods=["POST"]),
            Route("/dead-letters", guarded(self.letters)),
            Route("/dead-letters/dry-run", guarded(self.dry_run_all, write=True), methods=["POST"]),
            Route("/dead-letters/replay", guarded(self.replay_all, write=True), methods=["POST"]),
            Route("/dead-letters/purge", guarded(self.purge_all, write=True), methods=["POST"]),
            Route("/dead-letters/{letter_id}", guarded(self.letter)),
            Route("/dead-letters/{letter_id}/dry-run", guarded(self.dry_run_one, write=True), methods=["POST"]),
            Route("/dead-letters/{letter_id}/replay", guarded(self.replay_one, write=True), methods=["POST"]),
            Route("/dead-letters/{letter_id}/purge", guarded(self.purge_one, write=True), methods=["POST"]),
            Route("/payments", guarded(self.payments)),
            Route("/payments/show", guarded(self.payment)),
            Route("/payments/check", guarded(self.check, write=True), methods=["POST"]),
            Route("/unresolved", guarded(self.unresolved)),
            Route("/conflicts", guarded(self.conflicts)),
            Route("/deliveries", guarded(self.deliveries)),
            Route("/deliveries/{delivery_id}", guarded(self.delivery)),
            Route("/deliveries/{delivery_id}/retry", guarded(self.retry, write=True), methods=["POST"]),
            Route("/accounts", guarded(self.accounts)),
            Route("/accounts/{provider}/{name}", guarded(self.account)),
            Route("/accounts/{provider}/{name}/disable", guarded(self.disable, write=True), methods=["POST"]),
            Route("/accounts/{provider}/{name}/enable", guarded(self.enable, write=True), methods=["POST"]),
            Route("/jobs", guarded(self.jobs)),
            Route("/jobs/{job_id}", guarded(self.job)),
            Route("/jobs/{job_id}/cancel", guarded(self.cancel, write=True), methods=["POST"]),
            Route("/audit", guarded(self.audit)),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
        handlers = {HTTPException: self._http_error, Exception: self._server_error}
        return Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]

    # -- errors -----------------------------------------------------------------------------------------

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        """Starlette's own refusals (no such page, wrong method, a form over its limits) as console pages."""
        title = TITLES.get(exc.status_code, "Refused")
        page = self.problem(request, exc.status_code, title, str(exc.detail))
        page.headers.update(dict(exc.headers or {}))
        return page

    async def _server_error(self, request: Request, exc: Exception) -> Response:
        log.error("console page %s failed", request.url.path, exc_info=exc)
        detail = "Something went wrong on our side; it is in the web process's log."
        return self.problem(request, 500, "Server error", detail)

    # -- sessions and guards ----------------------------------------------------------------------------

    async def _guard(self, request: Request, page: Page, *, write: bool) -> Response:
        if write and _cross_site(request):
            return error(403, "forbidden", "a cross-site request is refused")
        try:
            session, why = await run_in_threadpool(self.sessions.read, request.cookies.get(COOKIE))
        except RedisError:
            return self._no_sessions(request)
        if session is None:
            if write:
                return error(403, "forbidden", "sign in first: no valid session")
            query = urlencode({"reason": why} if why else {})
            return RedirectResponse(f"/console/sign-in{'?' + query if query else ''}", status_code=303)
        if write:
            form = await request.form()
            if not self.sessions.check_csrf(session, field(form, "csrf")):
                return error(403, "forbidden", "the form's CSRF token is missing or wrong: reload the page")
        return await page(request, session)

    def _no_sessions(self, request: Request) -> Response:
        detail = "Sessions are kept in Redis, which cannot be reached right now: try again in a moment."
        return self.problem(request, 503, "Sessions unavailable", detail)

    async def sign_in_page(self, request: Request) -> Response:
        reason = request.query_params.get("reason")
        note = {"expired": "Your session has expired: sign in again.", "invalid": "Sign in again."}.get(reason or "")
        return secure(self.render(request, None, "sign_in.html", note=note))

    async def sign_in(self, request: Request) -> Response:
        if _cross_site(request):
            return secure(error(403, "forbidden", "a cross-site request is refused"))
        form = await request.form()
        try:
            session = await run_in_threadpool(self.sessions.sign_in, field(form, "token") or "")
        except RedisError:
            return self._no_sessions(request)
        if session is None:
            page = self.render(request, None, "sign_in.html", note="That admin token is not valid.")
            page.status_code = 401
            return secure(page)
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie(
            COOKIE,
            self.sessions.cookie(session),
            max_age=int(self.sessions.lifetime),
            path="/console",
            httponly=True,
            samesite="strict",
            secure=_https(request),
        )
        return secure(response)

    async def sign_out(self, request: Request, session: ConsoleSession) -> Response:
        """Ends the session on the server: its cookie, kept or copied, opens nothing from now on."""
        await run_in_threadpool(self.sessions.sign_out, session)
        response = RedirectResponse("/console/sign-in?message=signed-out", status_code=303)
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    async def home(self, request: Request, session: ConsoleSession) -> Response:
        """The first page: the Overview (``overview.py``)."""
        found = await run_in_threadpool(overview.gather, self.ops)
        return self.render(request, session, "overview.html", overview=found, hours=overview.HOURS)


def _cross_site(request: Request) -> bool:
    """A request another site made the browser send: the browser says so, or its Origin names another host.
    Hosts, not schemes, are compared: behind a proxy that ends TLS the page is https and the request http."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != (request.headers.get("host") or "").lower()


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"
