"""The admin API's part of the OpenAPI document: every dead-letter filter as a query parameter (with its
earlier name), each provider named where a path takes one. No I/O."""

from __future__ import annotations

from shared.db.letter_filters import ALIASES, FIELDS
from shared.ops.api.openapi import admin_paths, letter_filters


def test_every_filter_is_a_query_parameter_and_each_alias_too() -> None:
    parameters = letter_filters()
    names = [p["name"] for p in parameters]
    assert {field.name for field in FIELDS} <= set(names)
    assert set(ALIASES.values()) <= set(names)
    assert len(names) == len(set(names)) == len(FIELDS) + len(ALIASES)
    assert all(p["in"] == "query" and p["required"] is False for p in parameters)
    times = [p for p in parameters if p["schema"].get("format") == "date-time"]
    assert {p["name"] for p in times} == {f.name for f in FIELDS if f.kind == "time"} | {
        ALIASES[f.name] for f in FIELDS if f.kind == "time" and f.name in ALIASES
    }


def test_admin_paths_are_under_admin_with_operations() -> None:
    paths = admin_paths(["pivot", "midtrans"])
    assert paths and all(path.startswith("/admin/") for path in paths)
    assert {"/admin/dead-letters", "/admin/endpoints"} <= set(paths)
    for item in paths.values():
        assert set(item) & {"get", "post", "put", "patch", "delete"}


def test_the_dead_letter_list_takes_every_filter() -> None:
    listed = admin_paths(["pivot"])["/admin/dead-letters"]["get"]
    names = {p["name"] for p in listed["parameters"] if "$ref" not in p}
    assert {field.name for field in FIELDS} <= names
