"""Hypothesis strategies the provider tests share: arbitrary JSON in any layout, and changes to it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

from hypothesis import settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=200, deadline=None)

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
Path: TypeAlias = tuple[str | int, ...]

# Characters that every JSON encoder treats specially somewhere: HTML escapes, line separators, controls,
# quotes, backslashes, brackets (which steer canonical_json between its fast and slow paths), astral planes.
TRICKY = '<>&\u2028\u2029"\\\b\f\n\t\x00\x1f\x7f/{}[]\u00e9\ufffd\ufeff\U0001f600'
# No lone surrogates: they are not UTF-8, so no HTTP body or (latin-1 decoded) header can hold one.
json_text = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)), max_size=12)
json_ints = st.one_of(
    st.integers(),
    st.integers(min_value=2**53 - 2, max_value=2**53 + 2),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    # Far beyond int64, still inside float64's range (Go refuses what a float64 cannot hold).
    st.integers(min_value=-(10**300), max_value=10**300),
)
json_scalars: st.SearchStrategy[JSONValue] = st.one_of(
    st.none(), st.booleans(), json_ints, st.floats(allow_nan=False, allow_infinity=False), json_text
)


def _containers(children: st.SearchStrategy[JSONValue]) -> st.SearchStrategy[JSONValue]:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(json_text, children, max_size=4))


json_values: st.SearchStrategy[JSONValue] = st.recursive(json_scalars, _containers, max_leaves=20)
json_objects: st.SearchStrategy[dict[str, JSONValue]] = st.dictionaries(json_text, json_values, max_size=6)

layouts = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 2, "\t", "\r\n "]),
        "separators": st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\n", " :\t")]),
        "sort_keys": st.booleans(),
        "ensure_ascii": st.booleans(),
    }
)


def dumps(value: JSONValue, layout: Mapping[str, Any]) -> bytes:
    return json.dumps(value, **layout).encode()


def nodes_of(value: JSONValue, here: Path = ()) -> Iterator[Path]:
    """Every node of ``value``, root first, as the keys and indexes that lead to it."""
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes_of(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes_of(item, (*here, index))


def node_at(doc: JSONValue, path: Path) -> Any:
    found: Any = doc
    for step in path:
        found = found[step]
    return found


def parent_of(doc: JSONValue, path: Path) -> Any:
    return node_at(doc, path[:-1])


@st.composite
def tampered_documents(draw: st.DrawFn) -> tuple[dict[str, JSONValue], JSONValue]:
    """A document and a changed copy of it: wrapped in another object, or one node replaced or removed."""
    doc = draw(json_objects)
    how = draw(st.sampled_from(["wrap", "replace", "delete", "add"]))
    if how == "wrap":
        return doc, {draw(json_text): doc}
    changed = copy.deepcopy(doc)
    inner = [p for p in nodes_of(changed) if p]
    if how == "add" or not inner:
        objects = [p for p in nodes_of(changed) if isinstance(node_at(changed, p), dict)]
        container = node_at(changed, draw(st.sampled_from(objects)))
        container[draw(json_text.filter(lambda k: k not in container))] = draw(json_values)
        return doc, changed
    path = draw(st.sampled_from(inner))
    holder = parent_of(changed, path)
    if how == "delete":
        del holder[path[-1]]
    else:
        holder[path[-1]] = draw(json_values)
    return doc, changed
