"""Which dead letters an operator means: one codec for the admin API's query, the console's form, the CLI's
options, the OpenAPI parameters, and the documents that jobs and the audit trail store.

``FIELDS`` declares the filters once (name, kind, description): the OpenAPI parameters and the CLI options are
built from it, the console's form is checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal


class BadFilter(ValueError):
    """A filter value that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class FilterField:
    name: str
    kind: Literal["text", "time"]
    description: str

    @property
    def option(self) -> str:
        """The CLI option."""
        return "--" + self.name.replace("_", "-")


FIELDS = (
    FilterField("provider", "text", "only this provider"),
    FilterField("account", "text", "only this merchant account (default: the provider's environment credentials)"),
    FilterField("reason", "text", "only this reason code"),
    FilterField("event_type", "text", "only this event type, as the provider names it"),
    FilterField("order_ref", "text", "only letters naming this order reference"),
    FilterField(
        "search",
        "text",
        "free text: the raw body as sent (unless encrypted at rest), the detail, order reference and event type",
    ),
    FilterField("since", "time", "created at or after (ISO 8601)"),
    FilterField("until", "time", "created before (ISO 8601)"),
)
# Earlier names a query may still use: free text was ``q`` in the admin API and the console.
ALIASES = {"search": "q"}
# What stored documents (jobs, the audit trail) call a field: free text is ``text`` there, as in rows written
# before it was ``search``.
_STORED = {"search": "text"}


def utc_time(text: str) -> datetime:
    """ISO 8601 as operators type it, with or without a zone (``Z``, ``+07:00``); without one it is UTC.
    Raises ValueError."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    provider: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_replayed: bool = False
    event_type: str | None = None
    order_ref: str | None = None
    # Free text: the raw body's bytes as sent (not where the body is encrypted at rest), the reason's detail,
    # the order reference and the event type.
    search: str | None = None
    account: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, Any], *, forgiving: bool = False) -> Filters:
        """The filters of a query string or a form. Strict (the admin API): a value PostgreSQL cannot take or a
        time that does not parse raises ``BadFilter`` naming the field. ``forgiving`` (the console's form):
        text is trimmed and loses NUL characters, and a time that does not parse is left out."""
        values: dict[str, Any] = {}
        for field in FIELDS:
            name, raw = _given(query, field.name)
            if forgiving:
                raw = raw.strip().replace("\x00", "") if raw else raw
            elif raw and "\x00" in raw:
                raise BadFilter(f"{name} holds a NUL character")
            values[field.name] = _time(raw, name, forgiving) if field.kind == "time" else raw or None
        return cls(**values)

    def to_query(self) -> dict[str, str]:
        """The query (or form) that selects these filters: the fields set, times in ISO 8601."""
        found = {field.name: getattr(self, field.name) for field in FIELDS}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in found.items() if v}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Filters:
        """The filters a job or an audit entry stored (``to_document``)."""
        values = {_NAMES.get(k, k): v for k, v in document.items()}
        for name in ("since", "until"):
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)

    def to_document(self) -> dict[str, Any]:
        """As jobs and the audit trail keep them: only what is set, times in ISO 8601."""
        found = {_STORED.get(f.name, f.name): getattr(self, f.name) for f in fields(self)}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in found.items() if v not in (None, False)}


_NAMES = {stored: name for name, stored in _STORED.items()}


def _given(query: Mapping[str, Any], name: str) -> tuple[str, str | None]:
    """The value of ``name`` in the query, or of its earlier name; with the name it was given as."""
    for given in (name, ALIASES.get(name)):
        if given is not None:
            value = query.get(given)
            if isinstance(value, str) and value:
                return given, value
    return name, None


def _time(raw: str | None, name: str, forgiving: bool) -> datetime | None:
    if not raw:
        return None
    try:
        return utc_time(raw)
    except ValueError:
        if forgiving:
            return None
        raise BadFilter(f"{name} is not an ISO 8601 time") from None
