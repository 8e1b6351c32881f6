"""What a bulk job goes through, in id order: the dead letters a filter selects (replay, purge) or the payments a
reconciliation selects. A job stores its selection as a document and reads it back by its kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from shared.db import checks
from shared.db import dead_letters as dlq


class Selection(Protocol):
    def to_document(self) -> dict[str, Any]: ...

    def newest_id(self, session: Session) -> int: ...

    def count(self, session: Session, *, up_to: int) -> int: ...

    def ids(self, session: Session, *, after: int, up_to: int, limit: int) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class LetterSelection:
    filters: dlq.Filters

    def to_document(self) -> dict[str, Any]:
        return self.filters.to_document()

    def newest_id(self, session: Session) -> int:
        return dlq.newest_id(session)

    def count(self, session: Session, *, up_to: int) -> int:
        return dlq.count_matching(session, self.filters, up_to=up_to)

    def ids(self, session: Session, *, after: int, up_to: int, limit: int) -> list[int]:
        return dlq.matching_ids(session, self.filters, after=after, up_to=up_to, limit=limit)


@dataclass(frozen=True, slots=True)
class PaymentSelection:
    """Payments of the providers whose status API is configured (``providers``), narrowed by the filters."""

    providers: tuple[str, ...]
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def to_document(self) -> dict[str, Any]:
        found = {"providers": list(self.providers), "status": self.status, "since": self.since, "until": self.until}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in found.items() if v}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PaymentSelection:
        times = {k: datetime.fromisoformat(document[k]) for k in ("since", "until") if document.get(k)}
        return cls(tuple(document.get("providers", ())), document.get("status"), **times)

    @property
    def _filters(self) -> checks.ReconcileFilters:
        return checks.ReconcileFilters(self.providers, self.status, self.since, self.until)

    def newest_id(self, session: Session) -> int:
        return checks.newest_payment_id(session)

    def count(self, session: Session, *, up_to: int) -> int:
        return checks.count_payments(session, self._filters, up_to=up_to)

    def ids(self, session: Session, *, after: int, up_to: int, limit: int) -> list[int]:
        return checks.payment_ids(session, self._filters, after=after, up_to=up_to, limit=limit)


def selection_of(kind: str, document: Mapping[str, Any]) -> Selection:
    """A stored job's selection, by the job's kind."""
    if kind == "reconcile":
        return PaymentSelection.from_document(document)
    return LetterSelection(dlq.Filters.from_document(document))
