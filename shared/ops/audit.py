"""The audit trail of operator actions.

An action that changes something runs in ``audited``: its audit entry (actor, action, target or filter, count,
result) is written in the action's own transaction, so there is no change without its entry; an action that
fails or is refused is recorded too, in a transaction of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shared.connections import Connections
from shared.db import audit

log = logging.getLogger(__name__)


class Refused(ValueError):
    """An operator's request payhook will not carry out; the message says why."""


@dataclass(slots=True)
class AuditResult:
    """Filled in by an audited action: how many things it touched and how it ended."""

    text: str = "done"
    count: int | None = None


@contextmanager
def audited(
    connections: Connections,
    actor: str,
    action: str,
    *,
    target: str | None = None,
    filters: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> Iterator[tuple[Session, AuditResult]]:
    """Run an action in a transaction that also records it."""
    result = AuditResult()
    try:
        with connections.session() as session:
            yield session, result
            entry = audit.Action(actor, action, result.text, target, filters, result.count, dry_run)
            audit.record(session, entry)
    except Exception as exc:
        state = "refused" if isinstance(exc, Refused) else "failed"
        _record_failure(connections, audit.Action(actor, action, f"{state}: {exc}", target, filters, None, dry_run))
        raise


def _record_failure(connections: Connections, action: audit.Action) -> None:
    try:
        with connections.session() as session:
            audit.record(session, action)
    except Exception as exc:  # the database is what failed: the log keeps what the trail cannot
        log.error("could not record %s by %s in the audit trail: %s", action.action, action.actor, exc)
