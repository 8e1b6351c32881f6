"""The dead-letter filters' one codec: from a query (strict for the admin API, forgiving for the console's
form), to a query, and to and from the documents jobs and the audit trail store. No I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from ingest.openapi import document
from shared.db.letter_filters import ALIASES, FIELDS, BadFilter, Filters
from shared.ops.cli import main
from shared.providers import all_providers

TEMPLATE = Path(__file__).parents[3] / "shared" / "ops" / "console" / "templates" / "letters.html"


def test_a_query_gives_every_filter() -> None:
    query = {"provider": "pivot", "reason": "invalid_json", "event_type": "PAYMENT.PAID", "order_ref": "o-1"}
    found = Filters.from_query({**query, "search": "vip", "since": "2026-12-01T00:00", "until": "2026-12-02T00:00Z"})
    assert found == Filters(
        provider="pivot",
        reason="invalid_json",
        event_type="PAYMENT.PAID",
        order_ref="o-1",
        search="vip",
        since=datetime(2026, 12, 1, tzinfo=UTC),
        until=datetime(2026, 12, 2, tzinfo=UTC),
    )
    assert Filters.from_query(found.to_query()) == found


def test_free_text_answers_to_its_earlier_name_q_and_search_wins() -> None:
    assert Filters.from_query({"q": "vip"}).search == "vip"
    assert Filters.from_query({"q": "old", "search": "new"}).search == "new"
    assert Filters.from_query({"search": ""}) == Filters()


def test_a_strict_query_names_the_bad_field() -> None:
    with pytest.raises(BadFilter, match=r"^since is not an ISO 8601 time$"):
        Filters.from_query({"since": "yesterday"})
    with pytest.raises(BadFilter, match=r"^q holds a NUL character$"):
        Filters.from_query({"q": "a\x00b"})
    with pytest.raises(BadFilter, match=r"^reason holds a NUL character$"):
        Filters.from_query({"reason": "\x00"})


def test_a_forgiving_query_trims_and_leaves_out_what_does_not_parse() -> None:
    found = Filters.from_query({"reason": "  bad\x00_json ", "since": "yesterday", "q": " x "}, forgiving=True)
    assert found == Filters(reason="bad_json", search="x")


def test_stored_documents_keep_their_shape() -> None:
    """Jobs and audit entries written before free text was called search name it ``text``: they still load,
    and new ones are written the same way."""
    stored = {"reason": "crashed_worker", "text": "vip", "since": "2026-12-01T00:00:00+00:00", "include_replayed": True}
    loaded = Filters.from_document(stored)
    assert loaded == Filters(
        reason="crashed_worker", search="vip", since=datetime(2026, 12, 1, tzinfo=UTC), include_replayed=True
    )
    assert loaded.to_document() == stored
    assert Filters().to_document() == {}


def test_the_openapi_parameters_the_cli_options_and_the_console_form_are_the_fields() -> None:
    names = [f.name for f in FIELDS]
    paths = document(list(all_providers().values()), admin=True)["paths"]
    for path, method in (("/admin/dead-letters", "get"), ("/admin/dead-letters/counts", "get")):
        given = [p["name"] for p in paths[path][method]["parameters"] if p["name"] not in ("limit", "offset", "after")]
        assert given == [n for name in names for n in (name, ALIASES.get(name)) if n], path
    dlq = main.commands["dlq"]
    assert isinstance(dlq, click.Group)
    options = {o.opts[0]: o.help for o in dlq.commands["list"].params if isinstance(o, click.Option)}
    assert all(options[f.option] == f.description for f in FIELDS)
    form = re.search(r'<form method="get" action="/console/dead-letters".*?</form>', TEMPLATE.read_text(), re.S)
    assert form is not None
    assert re.findall(r'name="(\w+)"', form.group(0)) == names
