"""Properties of ``shared.providers._gojson.canonical_json`` that hold whatever Go does: the canonical form ignores key
order and whitespace, re-parses to the document (numbers as float64) and is a fixed point."""

from __future__ import annotations

import json
import math
import random
from typing import Any, TypeAlias

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.providers._gojson import MAX_DEPTH, _canonical_slow, canonical_json, go_float
from tests.support.fixtures import json_depth

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

scalars: st.SearchStrategy[JSONValue] = st.one_of(
    st.none(),
    st.booleans(),
    # Past 2**53 integers are rounded to float64; past about 1.8e308 Go refuses them, so stay well inside.
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),  # no lone surrogates: Go would turn them into U+FFFD, which the re-parse property would see
)


def _containers(children: st.SearchStrategy[JSONValue]) -> st.SearchStrategy[JSONValue]:
    return st.one_of(st.lists(children, max_size=5), st.dictionaries(st.text(max_size=8), children, max_size=5))


json_values: st.SearchStrategy[JSONValue] = st.recursive(scalars, _containers, max_leaves=25)

# How json.dumps lays the document out: indent, separators, sort_keys, ensure_ascii.
layouts = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 1, 2, 4, "\t", "\r "]),
        "separators": st.sampled_from([(",", ":"), (", ", ": "), (",", ": "), (" , ", " : "), (",\n", ":\t")]),
        "sort_keys": st.booleans(),
        "ensure_ascii": st.booleans(),
    }
)
# JSON whitespace that may surround the document.
padding = st.text(alphabet=" \t\r\n", max_size=4)


def _shuffled(value: JSONValue, rng: random.Random) -> JSONValue:
    """``value`` with the keys of every object in a random order."""
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: _shuffled(value[key], rng) for key in keys}
    return value


def _as_float64(value: JSONValue) -> JSONValue:
    """``value`` as Go holds it after ``json.Unmarshal`` into ``interface{}``: every number a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_as_float64(item) for item in value]
    return {key: _as_float64(item) for key, item in value.items()}


def _dumps(value: JSONValue, layout: dict[str, Any]) -> bytes:
    return json.dumps(value, **layout).encode("utf-8")


@PROPERTY_SETTINGS
@given(value=json_values, layout=layouts, lead=padding, trail=padding, rng=st.randoms(use_true_random=False))
def test_invariant_under_key_order_and_whitespace(
    value: JSONValue, layout: dict[str, Any], lead: str, trail: str, rng: random.Random
) -> None:
    assume(json_depth(value) < MAX_DEPTH)
    reference = canonical_json(json.dumps(value).encode("utf-8"))
    body = lead.encode() + _dumps(_shuffled(value, rng), layout) + trail.encode()
    assert canonical_json(body) == reference


@PROPERTY_SETTINGS
@given(value=json_values)
def test_canonical_output_reparses_to_the_float64_document(value: JSONValue) -> None:
    assume(json_depth(value) < MAX_DEPTH)
    canonical = canonical_json(json.dumps(value).encode("utf-8"))
    # Past 2**53 Go prints the shortest digits that round-trip, padded with zeros ("123456789012345680000"),
    # which json.loads reads as an exact int; so compare both sides as float64. The digits must round-trip.
    assert _as_float64(json.loads(canonical)) == _as_float64(value)


@PROPERTY_SETTINGS
@given(value=json_values, layout=layouts)
def test_canonical_json_is_idempotent(value: JSONValue, layout: dict[str, Any]) -> None:
    assume(json_depth(value) < MAX_DEPTH)
    once = canonical_json(_dumps(value, layout))
    assert canonical_json(once) == once


@pytest.mark.parametrize("body", [b"-0", b"-0.0", b"[-0.0]", b'{"a":-0e0}'])
def test_negative_zero_is_idempotent(body: bytes) -> None:
    once = canonical_json(body)
    assert canonical_json(once) == once


@PROPERTY_SETTINGS
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_round_trips_and_uses_go_layout(value: float) -> None:
    text = go_float(value)
    assert float(text) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        assert "e" not in text
        assert not text.endswith(".")
        assert "." not in text or not text.endswith("0")
    else:
        mantissa, exponent = text.split("e")
        assert exponent[0] in "+-"
        # Go pads a positive exponent to two digits and strips the zero padding of a negative one.
        assert len(exponent) >= 3 if exponent[0] == "+" else not exponent[1:].startswith("0")
        assert float(mantissa) != 0


@PROPERTY_SETTINGS
@given(value=json_values, indent=st.sampled_from([None, 0, 2]), sort_keys=st.booleans())
def test_fast_and_slow_paths_agree(value: JSONValue, indent: int | None, sort_keys: bool) -> None:
    body = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False).encode()
    assume(json_depth(value) < MAX_DEPTH)
    assert canonical_json(body) == _canonical_slow(body)
