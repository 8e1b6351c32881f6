"""The dead-letter table: a repository. Domain code takes a session and never commits.

A dead letter holds the raw callback as the receiver acknowledged it, the reason (a short code), the error
message and traceback. It lives in PostgreSQL, so it survives worker and Redis restarts. What operators do
with letters (list, show, replay, purge) is the operator service, ``shared.ops.service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, delete, func, literal, or_, select, tuple_, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from shared.db.letter_filters import Filters as Filters  # noqa: PLC0414 - re-exported: callers say dlq.Filters
from shared.db.models import DeadLetter
from shared.providers import all_providers
from shared.queue import QueuedCallback
from shared.sealing import Sealer


@dataclass(frozen=True, slots=True)
class Rejected:
    """A callback the pipeline gave up on, on its way into the dead-letter table."""

    entry_id: str
    callback: QueuedCallback
    reason: str
    detail: str
    traceback: str | None = None


def _clean(text: str | None, limit: int) -> str:
    """PostgreSQL text holds no NUL; a dead letter must never be refused for what it describes."""
    return (text or "").replace("\x00", "\ufffd")[:limit]


def record(session: Session, rejected: list[Rejected], sealer: Sealer) -> None:
    """Insert dead letters; an entry recorded before (a redelivery) is not recorded twice."""
    if not rejected:
        return
    session.execute(
        insert(DeadLetter).on_conflict_do_nothing(index_elements=["entry_id"]),
        [
            {
                "entry_id": r.entry_id[:64],
                "provider": _clean(r.callback.provider, 64),
                "account": _clean(r.callback.account, 64),
                "body": sealer.seal(r.callback.body),
                "headers": {_clean(k, 200): _clean(v, 2000) for k, v in r.callback.headers.items()},
                "received_at": datetime.fromtimestamp(r.callback.received_at, UTC),
                "reason": _clean(r.reason, 64),
                **_peek(r.callback),
                "detail": _clean(r.detail, 2000),
                "traceback": _clean(r.traceback, 20000) or None,
            }
            for r in rejected
        ],
    )


def _peek(callback: QueuedCallback) -> dict[str, str | None]:
    provider = all_providers().get(callback.provider)
    event_type, order_ref = provider.peek(callback.body) if provider else (None, None)
    return {"event_type": event_type, "order_ref": order_ref}


def _matches_text(needle: str) -> ColumnElement[bool]:
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    in_body = sql_text("position(CAST(:needle AS bytea) IN dead_letters.body) > 0").bindparams(needle=needle.encode())
    return or_(
        in_body,
        DeadLetter.detail.ilike(pattern),
        DeadLetter.order_ref.ilike(pattern),
        DeadLetter.event_type.ilike(pattern),
    )


def _filtered(query: Select[Any], filters: Filters) -> Select[Any]:
    if filters.provider:
        query = query.where(DeadLetter.provider == filters.provider)
    if filters.account:
        query = query.where(DeadLetter.account == filters.account)
    if filters.reason:
        query = query.where(DeadLetter.reason == filters.reason)
    if filters.since:
        query = query.where(DeadLetter.created_at >= filters.since)
    if filters.until:
        query = query.where(DeadLetter.created_at < filters.until)
    if filters.event_type:
        query = query.where(DeadLetter.event_type == filters.event_type)
    if filters.order_ref:
        query = query.where(DeadLetter.order_ref == filters.order_ref)
    if filters.search:
        query = query.where(_matches_text(filters.search))
    if not filters.include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return query


def list_letters(
    session: Session, filters: Filters, *, limit: int = 50, offset: int = 0, after: int | None = None
) -> list[DeadLetter]:
    """Oldest first. ``after`` (the last id of the previous page) pages by cursor: as fast on the last page
    as on the first; ``offset`` counts rows past and slows down with depth.

    With a time range, pages follow (created_at, id) through their own index: ids follow time, but the planner
    cannot know that a range sits at the end of the id order, and would walk every id before it."""
    query = _filtered(select(DeadLetter), filters)
    timed = filters.since is not None or filters.until is not None
    if after is not None:
        if timed:
            anchor = select(DeadLetter.created_at).where(DeadLetter.id == after).scalar_subquery()
            query = query.where(tuple_(DeadLetter.created_at, DeadLetter.id) > tuple_(anchor, literal(after)))
        else:
            query = query.where(DeadLetter.id > after)
    order = (DeadLetter.created_at, DeadLetter.id) if timed else (DeadLetter.id,)
    return list(session.execute(query.order_by(*order).limit(limit).offset(offset)).scalars())


def counts_by_reason(session: Session, filters: Filters) -> dict[str, int]:
    """How many letters each reason has, of those the filters select (the reason filter aside)."""
    counted = cast(Select[Any], select(DeadLetter.reason, func.count()))
    query = _filtered(counted, replace(filters, reason=None))
    rows = session.execute(query.group_by(DeadLetter.reason).order_by(func.count().desc())).all()
    return {reason: count for reason, count in rows}


def get(session: Session, letter_id: int) -> DeadLetter | None:
    return session.get(DeadLetter, letter_id)


def count_waiting(session: Session) -> int:
    query = select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    return int(session.execute(query).scalar_one())


def matching_ids(
    session: Session, filters: Filters, *, after: int = 0, up_to: int | None = None, limit: int | None = None
) -> list[int]:
    """Ids of the letters the filters select, in id order, after ``after`` (and at most ``up_to``)."""
    query = _filtered(select(DeadLetter), filters).with_only_columns(DeadLetter.id).where(DeadLetter.id > after)
    if up_to is not None:
        query = query.where(DeadLetter.id <= up_to)
    return list(session.execute(query.order_by(DeadLetter.id).limit(limit)).scalars())


def newest_id(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(DeadLetter.id), 0))).scalar_one())


def count_matching(session: Session, filters: Filters, *, up_to: int | None = None) -> int:
    query = _filtered(cast(Select[Any], select(func.count()).select_from(DeadLetter)), filters)
    if up_to is not None:
        query = query.where(DeadLetter.id <= up_to)
    return int(session.execute(query).scalar_one())


def waiting(session: Session, letter_ids: Sequence[int]) -> list[DeadLetter]:
    """The letters of ``letter_ids`` still waiting (not replayed), by id."""
    query = select(DeadLetter).where(DeadLetter.id.in_(list(letter_ids)), DeadLetter.replayed_at.is_(None))
    return list(session.execute(query.order_by(DeadLetter.id)).scalars())


def mark_replayed(session: Session, letter_ids: Sequence[int]) -> list[DeadLetter]:
    """Take the letters still waiting, mark them replayed and return them, to be appended again before the
    caller commits: if the append fails nothing is marked, and if the commit fails the callback may be
    replayed twice, which deduplication absorbs.

    A letter another replay holds (locked) or has replayed is not taken: two replays of one filter at once
    share the letters between them, and never replay one twice.
    """
    letters = list(
        session.execute(
            select(DeadLetter)
            .where(DeadLetter.id.in_(letter_ids), DeadLetter.replayed_at.is_(None))
            .order_by(DeadLetter.id)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if letters:
        session.execute(
            update(DeadLetter)
            .where(DeadLetter.id.in_([x.id for x in letters]))
            .values(replayed_at=func.now(), replay_count=DeadLetter.replay_count + 1)
        )
    return letters


def original(letter: DeadLetter, sealer: Sealer) -> QueuedCallback:
    """The callback as the receiver first acknowledged it."""
    return QueuedCallback(
        provider=letter.provider,
        body=sealer.open(letter.body),
        headers={str(k): str(v) for k, v in letter.headers.items()},
        received_at=letter.received_at.timestamp(),
        account=letter.account,
    )


def purge(session: Session, letter_ids: Sequence[int]) -> int:
    result = cast(CursorResult[Any], session.execute(delete(DeadLetter).where(DeadLetter.id.in_(letter_ids))))
    return int(result.rowcount)
