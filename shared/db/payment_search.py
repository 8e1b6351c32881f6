"""Listing and searching payments, newest first, a page at a time. A repository: takes a session, never commits.

Newest is by creation time (then id). Pages are keyset pages: the cursor is the last payment shown (its id;
the query reads its creation time back), so page 1000 costs what page 1 does, where an offset would read and
throw away every row before it. Each filter has an index that yields rows in that order or few enough to
sort: the creation time (``ix_payments_created``), status (``ix_payments_status``), an order-reference prefix
(``ix_payments_order_ref_prefix``); provider and account are few values and filter what those yield.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from shared.canonical import Status
from shared.db.letter_filters import utc_time
from shared.db.models import Payment


@dataclass(frozen=True, slots=True)
class PaymentSearch:
    provider: str | None = None
    account: str | None = None
    status: Status | None = None
    # The start of the merchant's order reference: "ord-2026-" finds every order of that series.
    order_ref: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> PaymentSearch:
        """A form's filters, forgiving: text trimmed and without NUL characters; an unknown status or a time
        that does not parse is left out (the page shows what was understood)."""
        text = {name: _text(query.get(name)) for name in ("provider", "account", "order_ref")}
        return cls(
            provider=text["provider"],
            account=text["account"],
            status=_status(_text(query.get("status"))),
            order_ref=text["order_ref"],
            since=_time(_text(query.get("since"))),
            until=_time(_text(query.get("until"))),
        )

    def to_query(self) -> dict[str, str]:
        """The filters given, as a query string's values (times in ISO 8601)."""
        shown: dict[str, str] = {}
        for name, value in asdict(self).items():
            if value is not None:
                shown[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return shown


def search(session: Session, filters: PaymentSearch, *, limit: int, before: int | None = None) -> list[Payment]:
    """Payments the filters select, newest first; ``before``: the last id of the previous page."""
    query = _where(select(Payment), filters)
    if before is not None:
        cursor = select(Payment.created_at).where(Payment.id == before).scalar_subquery()
        query = query.where(tuple_(Payment.created_at, Payment.id) < tuple_(cursor, before))
    newest = query.order_by(Payment.created_at.desc(), Payment.id.desc())
    return list(session.execute(newest.limit(limit)).scalars())


def _where(query: Select[Any], filters: PaymentSearch) -> Select[Any]:
    if filters.provider:
        query = query.where(Payment.provider == filters.provider)
    if filters.account:
        query = query.where(Payment.account == filters.account)
    if filters.status:
        query = query.where(Payment.status == filters.status)
    if filters.order_ref:
        # A prefix, with LIKE's own wildcards taken literally: "50%" means the characters 5, 0 and %.
        escaped = filters.order_ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Payment.order_ref.like(escaped + "%", escape="\\"))
    if filters.since:
        query = query.where(Payment.created_at >= filters.since)
    if filters.until:
        query = query.where(Payment.created_at < filters.until)
    return query


def _text(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    cleaned = raw.replace("\x00", "").strip()
    return cleaned[:255] or None


def _status(raw: str | None) -> Status | None:
    try:
        return Status(raw) if raw else None
    except ValueError:
        return None


def _time(raw: str | None) -> datetime | None:
    try:
        return utc_time(raw) if raw else None
    except ValueError:
        return None
