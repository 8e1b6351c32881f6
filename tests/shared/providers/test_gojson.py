"""``shared.providers._gojson.canonical_json`` against what Go's ``encoding/json`` really produces.

``tests/fixtures/gojson/golden.json`` is written by ``tests/fixtures/gojson/main.go`` (see the README there):
for each JSON text in ``inputs.json``, Go's ``json.Marshal`` of the text ``json.Unmarshal``-ed into
``interface{}``, or ``null`` when ``Unmarshal`` fails. The golden file was generated with go1.19.8 (Debian
bookworm's ``golang-go``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict, cast

import pytest

from shared.providers._gojson import CanonicalError, _canonical_slow, canonical_json

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "gojson"
ID_WIDTH = 40


class GoldenCase(TypedDict):
    input: str
    output: str | None


def _load_inputs() -> list[str]:
    return cast(list[str], json.loads((FIXTURE_DIR / "inputs.json").read_text(encoding="utf-8")))


def _load_golden() -> list[GoldenCase]:
    return cast(list[GoldenCase], json.loads((FIXTURE_DIR / "golden.json").read_text(encoding="utf-8")))


# Go before 1.22 escaped U+0008 and U+000C as \u0008 and \u000c; Go 1.22 and later write \b and \f
# (https://go.dev/doc/go1.22#encoding/json). shared.providers._gojson follows Go >= 1.22, which is what Revenue Monster
# runs, but Debian bookworm ships go1.19, which generated golden.json. So the expectation is rewritten to the
# Go >= 1.22 form: every \u0008 / \u000c *escape* becomes \b / \f. The regex walks escape sequences, so an
# escaped backslash followed by the text "u0008" (JSON "\\u0008") is left alone. For a golden.json generated
# by Go >= 1.22 this is a no-op. Cases where it changed the expectation get "-go122bf" appended to their id.
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")
_GO122_ESCAPES = {"\\u0008": "\\b", "\\u000c": "\\f"}


def as_go122(output: str) -> str:
    return _ESCAPE.sub(lambda match: _GO122_ESCAPES.get(match.group(0), match.group(0)), output)


# Deliberate divergence: Go accepts nesting up to 10,000 levels, shared.providers._gojson refuses bodies nested
# deeper than MAX_DEPTH (64). No genuine callback comes close, and refusing bounds the work a forged body
# can cause; such a body fails authentication instead of being canonicalised.
_DEEPER_THAN_WE_ACCEPT: frozenset[str] = frozenset(
    {
        "[" * 65 + "]" * 65,
        "[" * 100 + "]" * 100,
        "[" * 1000 + "]" * 1000,
        "[" * 10000 + "]" * 10000,
        '{"a":' * 65 + "1" + "}" * 65,
    }
)


def _case_id(index: int, case: GoldenCase) -> str:
    text = case["input"]
    label = text[:ID_WIDTH] + ("..." if len(text) > ID_WIDTH else "")  # pytest escapes it
    suffix = "-go122bf" if case["output"] is not None and as_go122(case["output"]) != case["output"] else ""
    return f"{index:03d}:{label}{suffix}"


def _params() -> list[pytest.ParameterSet]:
    return [
        pytest.param(case, id=_case_id(index, case))
        for index, case in enumerate(_load_golden())
        if case["input"] not in _DEEPER_THAN_WE_ACCEPT
    ]


def test_golden_is_current() -> None:
    """golden.json was regenerated after the last change to inputs.json."""
    assert [case["input"] for case in _load_golden()] == _load_inputs()


@pytest.mark.parametrize("body", sorted(_DEEPER_THAN_WE_ACCEPT), ids=lambda b: f"depth-{len(b) // 2}")
def test_nesting_deeper_than_max_depth_is_refused(body: str) -> None:
    assert body in _load_inputs()
    with pytest.raises(CanonicalError):
        canonical_json(body.encode())


@pytest.mark.parametrize("canonical", [canonical_json, _canonical_slow], ids=["fast", "slow"])
@pytest.mark.parametrize("case", _params())
def test_matches_go(case: GoldenCase, canonical: Callable[[bytes], bytes]) -> None:
    """Both the fast path (C scanner + orjson) and the pure-Python path give Go's bytes."""
    body = case["input"].encode("utf-8")
    expected = case["output"]
    if expected is None:
        with pytest.raises(CanonicalError):
            canonical(body)
    else:
        assert canonical(body) == as_go122(expected).encode("utf-8")


# Raw bytes that are not UTF-8 cannot be carried by inputs.json (a JSON array of strings), so these were
# checked once by hand with go1.19.8: inside a string Go's Unmarshal replaces every invalid byte with U+FFFD
# and succeeds.
_INVALID_UTF8_GO = [
    (b'"a\xffb"', '"a\ufffdb"'),
    (b'"\xed\xa0\x80"', '"\ufffd\ufffd\ufffd"'),  # a UTF-8-encoded surrogate
    (b'"\xc0\xaf"', '"\ufffd\ufffd"'),  # overlong "/"
    (b'{"k\xfe":1}', '{"k\ufffd":1}'),
    (b'"\xf4\x90\x80\x80"', '"\ufffd\ufffd\ufffd\ufffd"'),  # beyond U+10FFFF
    (b'"\xe2\x82"', '"\ufffd\ufffd"'),  # truncated sequence
]


@pytest.mark.parametrize(
    ("body", "expected"), _INVALID_UTF8_GO, ids=[ascii(body)[2:-1] for body, _ in _INVALID_UTF8_GO]
)
def test_invalid_utf8_matches_go(body: bytes, expected: str) -> None:
    assert canonical_json(body) == expected.encode("utf-8")


def test_utf8_bom_is_refused_like_go() -> None:
    # Go: "invalid character 'ï' looking for beginning of value".
    with pytest.raises(CanonicalError):
        canonical_json(b"\xef\xbb\xbf{}")


# Numbers whose reading differs between parsers (the integer -0, a float64 -0 in Go; integers past 2**53, rounded
# by Go, and past 2**64; floats), duplicate keys (the last wins), "-0" in a string, the HTML escapes and a body
# with none: the fast path gives the pure-Python path's bytes.
_EDGES = [
    b"[-0]", b'{"a": -0 }', b"-0", b"[-0.0, -0e1]", b'["2019-03-01", "-0"]', b"[9007199254740992]",
    b"[9007199254740993]", b"[-9007199254740993]", b"[18446744073709551615]", b"[18446744073709551616]",
    b"[1.5, 1e21, 0.000001]", b'{"a": 1, "a": 2}', b'{"a": {"b": [true, false, null, 10]}}',
    b'"<&>\xe2\x80\xa8\xe2\x80\xa9"', b'"\xe2\x80\x94 no escape"', b'"a > b"',
]  # fmt: skip


@pytest.mark.parametrize("body", _EDGES, ids=[ascii(body)[2:-1] for body in _EDGES])
def test_the_fast_path_agrees_with_the_slow_one_at_the_edges(body: bytes) -> None:
    assert canonical_json(body) == _canonical_slow(body)
