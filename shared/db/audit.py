"""The audit trail: a repository. Entries are only ever added; takes a session, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.models import AuditEntry


@dataclass(frozen=True, slots=True)
class Action:
    actor: str
    action: str
    outcome: str
    target: str | None = None
    filters: dict[str, Any] | None = None
    count: int | None = None
    dry_run: bool = False


def record(session: Session, action: Action) -> AuditEntry:
    entry = AuditEntry(
        actor=action.actor[:200],
        action=action.action,
        target=action.target,
        filters=action.filters,
        count=action.count,
        outcome=action.outcome.replace("\x00", "\ufffd")[:2000],
        dry_run=action.dry_run,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session, *, limit: int, before: int | None = None, actor: str | None = None, action: str | None = None
) -> list[AuditEntry]:
    """Newest first; ``before`` is the last id of the previous page."""
    query = select(AuditEntry)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
