"""Python handlers: functions of the event registered under the entry-point group ``payhook.handlers``.

Each installed handler is a consumer like an HTTP endpoint (a row in ``endpoints`` of kind ``handler``, named
by its entry point), with the same ordering, retries and visibility. Workers register the handlers they have
when they start; a handler is loaded on its first event.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

GROUP = "payhook.handlers"

_REGISTER = text("""
    INSERT INTO endpoints (kind, handler) SELECT 'handler', name FROM unnest(CAST(:names AS text[])) AS name
    ON CONFLICT (handler) DO NOTHING
""")


def installed() -> dict[str, Callable[[], Callable[[dict[str, Any]], Any]]]:
    """The handlers installed here, by entry-point name, each as a loader (cached after the first load)."""
    return {ep.name: _loader(ep) for ep in entry_points(group=GROUP)}


def _loader(ep: EntryPoint) -> Callable[[], Callable[[dict[str, Any]], Any]]:
    @cache
    def load() -> Callable[[dict[str, Any]], Any]:
        handler = ep.load()
        if not callable(handler):
            raise TypeError(f"entry point {ep.name!r} ({ep.value}) is not callable")
        return handler  # type: ignore[no-any-return]

    return load


def register(session: Session, names: list[str]) -> None:
    """Make each handler a consumer of the events written from now on (idempotent)."""
    if names:
        session.execute(_REGISTER, {"names": names})
