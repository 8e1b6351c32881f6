"""What every console page stands on: the operator service, the sessions, the templates, the security headers
every answer carries, and the small readers of a request's fields. The sections (``letters``, ``payment_pages``,
``account_pages``, ``outbox_pages``) subclass it; ``app.Console`` puts them together."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from shared.canonical import DeliveryStatus, Status
from shared.errors import ascii_digits
from shared.ops.console.session import ConsoleSession, ConsoleSessions
from shared.ops.render import ago, pretty
from shared.ops.service import OperatorService
from shared.providers import all_providers
from shared.settings import Settings

HERE = Path(__file__).parent
PAGE = 50
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
    "enabled": "Enabled: its callbacks are taken again within seconds.",
    "disabled": "Disabled: its callbacks are refused within seconds.",
}


def secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class ConsoleBase:
    def __init__(self, settings: Settings, ops: OperatorService | None = None) -> None:
        self.ops = ops or OperatorService(settings)
        self.sessions = ConsoleSessions(settings.actors, self.ops.redis, settings.queue_prefix)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["ago"] = ago
        self.templates.env.filters["pretty"] = pretty
        self.templates.env.globals["providers"] = list(all_providers())
        self.templates.env.globals["delivery_statuses"] = [str(s) for s in DeliveryStatus]
        self.templates.env.globals["payment_statuses"] = [str(s) for s in Status]

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

    def problem(
        self, request: Request, status: int, title: str, detail: str, session: ConsoleSession | None = None
    ) -> Response:
        """The console's own error page (404, 400, 500...), with its headers."""
        page = self.render(request, session, "problem.html", status=status, title=title, detail=detail)
        page.status_code = status
        return secure(page)


def field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def number(raw: str | None) -> int | None:
    return int(raw) if raw and ascii_digits(raw) and len(raw) < 18 else None


def path_number(request: Request, name: str) -> int | None:
    return number(request.path_params.get(name))


def query(request: Request, **changes: Any) -> str:
    values = dict(request.query_params)
    values.pop("message", None)
    values.update({k: str(v) for k, v in changes.items()})
    return f"{request.url.path}?{urlencode(values)}"


def back(path: str, message: str) -> Response:
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}message={message}", status_code=303)
