"""The console's routes: sign-in, then pages that read through the operator service, and forms that act
through it (audited under the signed-in token's name). Off the callback path: its own Starlette app under
``/console``, blocking calls in the thread pool."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from shared.canonical import DeliveryStatus
from shared.db import dead_letters as dlq
from shared.db.outbox import DeliveryFilters
from shared.errors import ascii_digits, error
from shared.ops.console import overview
from shared.ops.console.session import COOKIE, ConsoleSession, ConsoleSessions
from shared.ops.render import ago, pretty
from shared.ops.service import OperatorService
from shared.providers import all_providers
from shared.settings import Settings

HERE = Path(__file__).parent
PAGE = 50
Page = Callable[[Request, ConsoleSession], Awaitable[Response]]
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
MESSAGES = {
    "replayed": "Replayed: the callback is back in the queue.",
    "not-waiting": "Nothing done: the letter is not waiting (replayed or purged already).",
    "purged": "Purged.",
    "retried": "The delivery goes out again now, with a fresh schedule.",
    "not-retried": "Nothing done: the delivery is being sent right now, or is gone.",
    "cancelled": "The job stops after the chunk in hand.",
    "signed-out": "Signed out.",
}


class Console:
    def __init__(self, settings: Settings, ops: OperatorService | None = None) -> None:
        self.ops = ops or OperatorService(settings)
        self.sessions = ConsoleSessions(settings.actors)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["ago"] = ago
        self.templates.env.filters["pretty"] = pretty
        self.templates.env.globals["providers"] = list(all_providers())
        self.templates.env.globals["delivery_statuses"] = [str(s) for s in DeliveryStatus]

    def mount(self) -> Mount:
        return Mount("/console", app=self.app())

    def app(self) -> Starlette:
        def guarded(page: Page, *, write: bool = False) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return self._secure(await self._guard(request, page, write=write))

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
            Route("/conflicts", guarded(self.conflicts)),
            Route("/deliveries", guarded(self.deliveries)),
            Route("/deliveries/{delivery_id}/retry", guarded(self.retry, write=True), methods=["POST"]),
            Route("/jobs", guarded(self.jobs)),
            Route("/jobs/{job_id}", guarded(self.job)),
            Route("/jobs/{job_id}/cancel", guarded(self.cancel, write=True), methods=["POST"]),
            Route("/audit", guarded(self.audit)),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
        return Starlette(routes=routes)

    # -- sessions and guards ----------------------------------------------------------------------------

    async def _guard(self, request: Request, page: Page, *, write: bool) -> Response:
        session, why = self.sessions.read(request.cookies.get(COOKIE))
        if write and _cross_site(request):
            return error(403, "forbidden", "a cross-site request is refused")
        if session is None:
            if write:
                return error(403, "forbidden", "sign in first: no valid session")
            query = urlencode({"reason": why} if why else {})
            return RedirectResponse(f"/console/sign-in{'?' + query if query else ''}", status_code=303)
        if write:
            form = await request.form()
            if not self.sessions.check_csrf(session, _field(form, "csrf")):
                return error(403, "forbidden", "the form's CSRF token is missing or wrong: reload the page")
        return await page(request, session)

    def _secure(self, response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def render(self, request: Request, session: ConsoleSession | None, name: str, **context: Any) -> Response:
        message = MESSAGES.get(request.query_params.get("message", ""))
        context = {
            "session": session,
            "csrf": self.sessions.csrf(session) if session else "",
            "message": message,
            "now": datetime.now(UTC),
            **context,
        }
        return self.templates.TemplateResponse(request, name, context)

    async def sign_in_page(self, request: Request) -> Response:
        reason = request.query_params.get("reason")
        note = {"expired": "Your session has expired: sign in again.", "invalid": "Sign in again."}.get(reason or "")
        return self._secure(self.render(request, None, "sign_in.html", note=note))

    async def sign_in(self, request: Request) -> Response:
        if _cross_site(request):
            return self._secure(error(403, "forbidden", "a cross-site request is refused"))
        form = await request.form()
        session = self.sessions.sign_in(_field(form, "token") or "")
        if session is None:
            page = self.render(request, None, "sign_in.html", note="That admin token is not valid.")
            page.status_code = 401
            return self._secure(page)
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
        return self._secure(response)

    async def sign_out(self, request: Request, session: ConsoleSession) -> Response:
        response = RedirectResponse("/console/sign-in?message=signed-out", status_code=303)
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    async def home(self, request: Request, session: ConsoleSession) -> Response:
        """The first page: the Overview (``overview.py``)."""
        found = await run_in_threadpool(overview.gather, self.ops)
        return self.render(request, session, "overview.html", overview=found, hours=overview.HOURS)

    # -- dead letters -----------------------------------------------------------------------------------

    async def letters(self, request: Request, session: ConsoleSession) -> Response:
        filters = _letter_filters(request.query_params)
        after = _number(request.query_params.get("after"))
        letters, counts = await run_in_threadpool(
            lambda: (self.ops.letters(filters, limit=PAGE + 1, after=after), self.ops.letter_counts(filters))
        )
        more = len(letters) > PAGE
        letters = letters[:PAGE]
        next_page = _query(request, after=letters[-1]["id"]) if more else None
        return self.render(
            request,
            session,
            "letters.html",
            letters=letters,
            counts=counts,
            filters=filters.to_query(),
            next_page=next_page,
            total=sum(counts.values()),
        )

    async def letter(
        self, request: Request, session: ConsoleSession, prediction: dict[str, Any] | None = None
    ) -> Response:
        letter_id = _path_number(request, "letter_id")
        letter = await run_in_threadpool(self.ops.letter, letter_id) if letter_id else None
        if letter is None:
            return error(404, "not_found", "no such dead letter")
        return self.render(request, session, "letter.html", letter=letter, prediction=prediction)

    async def dry_run_one(self, request: Request, session: ConsoleSession) -> Response:
        letter_id = _path_number(request, "letter_id") or 0
        report = await run_in_threadpool(lambda: self.ops.dry_run([letter_id], actor=session.actor))
        prediction = report["letters"][0] if report["letters"] else {"predicted": "not waiting"}
        return await self.letter(request, session, prediction)

    async def replay_one(self, request: Request, session: ConsoleSession) -> Response:
        letter_id = _path_number(request, "letter_id") or 0
        done = await run_in_threadpool(lambda: self.ops.replay([letter_id], actor=session.actor))
        return _back(f"/console/dead-letters/{letter_id}", "replayed" if done else "not-waiting")

    async def purge_one(self, request: Request, session: ConsoleSession) -> Response:
        letter_id = _path_number(request, "letter_id") or 0
        removed = await run_in_threadpool(lambda: self.ops.purge([letter_id], actor=session.actor))
        return _back("/console/dead-letters", "purged" if removed else "not-waiting")

    async def dry_run_all(self, request: Request, session: ConsoleSession) -> Response:
        filters = _letter_filters(await request.form())
        report = await run_in_threadpool(
            lambda: self.ops.dry_run(self.ops.matching(filters), actor=session.actor, filters=filters)
        )
        return self.render(request, session, "dry_run.html", report=report, filters=filters.to_query())

    async def replay_all(self, request: Request, session: ConsoleSession) -> Response:
        return await self._job(request, session, "replay")

    async def purge_all(self, request: Request, session: ConsoleSession) -> Response:
        form = await request.form()
        if _field(form, "confirm") != "purge":
            return error(400, "bad_request", "tick the box to confirm a purge: it deletes letters for good")
        return await self._job(request, session, "purge")

    async def _job(self, request: Request, session: ConsoleSession, kind: str) -> Response:
        filters = _letter_filters(await request.form())
        if kind == "purge":
            filters = dataclasses.replace(filters, include_replayed=True)
        job, _ = await run_in_threadpool(lambda: self.ops.start_job(kind, filters, actor=session.actor))
        return RedirectResponse(f"/console/jobs/{job['id']}", status_code=303)

    # -- payments, conflicts, deliveries, jobs, audit ---------------------------------------------------

    async def payments(self, request: Request, session: ConsoleSession) -> Response:
        provider = request.query_params.get("provider") or ""
        reference = (request.query_params.get("order_ref") or "").strip().replace("\x00", "")
        payment = None
        if provider and reference:
            payment = await run_in_threadpool(self.ops.payment, provider, reference)
        looked = bool(provider and reference)
        return self.render(
            request, session, "payments.html", payment=payment, provider=provider, reference=reference, looked=looked
        )

    async def conflicts(self, request: Request, session: ConsoleSession) -> Response:
        found = await run_in_threadpool(lambda: self.ops.conflicts(limit=200))
        return self.render(request, session, "conflicts.html", conflicts=found)

    async def deliveries(self, request: Request, session: ConsoleSession) -> Response:
        status = _delivery_status(request.query_params.get("status"))
        endpoint = _number(request.query_params.get("endpoint"))
        found, endpoints = await run_in_threadpool(
            lambda: (self.ops.deliveries(DeliveryFilters(endpoint, status), limit=100), self.ops.endpoints())
        )
        return self.render(
            request, session, "deliveries.html", deliveries=found, endpoints=endpoints, status=status, endpoint=endpoint
        )

    async def retry(self, request: Request, session: ConsoleSession) -> Response:
        delivery_id = _path_number(request, "delivery_id") or 0
        done = await run_in_threadpool(lambda: self.ops.retry_deliveries([delivery_id], actor=session.actor))
        return _back("/console/deliveries", "retried" if done else "not-retried")

    async def jobs(self, request: Request, session: ConsoleSession) -> Response:
        return self.render(request, session, "jobs.html", jobs=await run_in_threadpool(self.ops.jobs))

    async def job(self, request: Request, session: ConsoleSession) -> Response:
        job_id = _path_number(request, "job_id")
        job = await run_in_threadpool(self.ops.job, job_id) if job_id else None
        if job is None:
            return error(404, "not_found", "no such job")
        return self.render(request, session, "job.html", job=job)

    async def cancel(self, request: Request, session: ConsoleSession) -> Response:
        job_id = _path_number(request, "job_id") or 0
        await run_in_threadpool(lambda: self.ops.cancel_job(job_id, actor=session.actor))
        return _back(f"/console/jobs/{job_id}", "cancelled")

    async def audit(self, request: Request, session: ConsoleSession) -> Response:
        entries = await run_in_threadpool(lambda: self.ops.audit(limit=200))
        return self.render(request, session, "audit.html", entries=entries)


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


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _number(raw: str | None) -> int | None:
    return int(raw) if raw and ascii_digits(raw) and len(raw) < 18 else None


def _path_number(request: Request, name: str) -> int | None:
    return _number(request.path_params.get(name))


def _letter_filters(source: Any) -> dlq.Filters:
    """The form's (or the page's query's) filters; text is trimmed, a time that does not parse is left out."""
    return dlq.Filters.from_query(source, forgiving=True)


def _delivery_status(given: str | None) -> DeliveryStatus | None:
    try:
        return DeliveryStatus(given) if given else None
    except ValueError:
        return None


def _query(request: Request, **changes: Any) -> str:
    values = dict(request.query_params)
    values.update({k: str(v) for k, v in changes.items()})
    return f"{request.url.path}?{urlencode(values)}"


def _back(path: str, message: str) -> Response:
    return RedirectResponse(f"{path}?message={message}", status_code=303)
