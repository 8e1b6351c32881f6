"""Canonical JSON exactly as Go's ``encoding/json`` re-encodes a generically parsed document.

Revenue Monster signs ``json.Marshal`` of the body decoded into ``map[string]interface{}``: keys sorted at
every depth, no whitespace, every number a float64 printed by Go's rules, ``<``, ``>``, ``&``, U+2028 and
U+2029 escaped. Reproducing that byte for byte is the only way to verify its signatures.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

# Go accepts 10,000 levels; no genuine callback nests a tenth as deep, so deeper bodies are refused here.
MAX_DEPTH = 64
# Go's float64 holds every integer up to 2**53 exactly, and prints it as plain digits.
_EXACT_INT = 2**53
_encode_string: Callable[[str], str] = json.encoder.encode_basestring
_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Longer integer literals go straight to float: Python caps int() at 4,300 digits, Go just rounds.
_LONG_INT = 20
# Integer literals shorter than this are exact in a float64 and print the same in Go: orjson writes them.
_SHORT_INT = 16
_FAST_MAX_BYTES = 1 << 20
_HTML_BYTES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def _go_replace(error: UnicodeError) -> tuple[str, int]:
    """Go's decoder replaces every byte of an invalid UTF-8 sequence with U+FFFD, one for one."""
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error("payhook-go-utf8", _go_replace)


class CanonicalError(ValueError):
    """The body is not a JSON document Go would accept."""


def _reject_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not JSON")


def _parse_int(literal: str) -> int | float:
    if literal == "-0":
        return -0.0  # a float64 in Go: negative zero, printed "-0"
    return int(literal) if len(literal) < _LONG_INT else float(literal)


def _replace_surrogate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Go turns an unpaired surrogate escape into U+FFFD before building the map: keys may then collide."""
    return {_LONE_SURROGATE.sub("\ufffd", key): value for key, value in pairs}


def go_float(value: float) -> str:
    """``value`` as Go's JSON encoder prints a float64 (shortest round-trip digits)."""
    if not math.isfinite(value):
        raise CanonicalError("number out of float64 range")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        text = format(Decimal(repr(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mantissa, _, exponent = repr(value).partition("e")
    power = int(exponent)
    sign = "+" if power >= 0 else "-"
    digits = f"{abs(power):02d}" if power >= 0 else str(abs(power))
    return f"{mantissa}e{sign}{digits}"


def _string(value: str) -> str:
    return _encode_string(value).translate(_HTML_ESCAPES)


def _write(value: Any, out: list[str], depth: int) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, dict):
        _write_object(value, out, depth)
    elif isinstance(value, list):
        _write_array(value, out, depth)
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    else:
        out.append(_number(value))


def _write_object(value: dict[str, Any], out: list[str], depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise CanonicalError(f"JSON nested deeper than {MAX_DEPTH}")
    out.append("{")
    for index, key in enumerate(sorted(value)):
        if index:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _write(value[key], out, depth + 1)
    out.append("}")


def _write_array(value: list[Any], out: list[str], depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise CanonicalError(f"JSON nested deeper than {MAX_DEPTH}")
    out.append("[")
    for index, item in enumerate(value):
        if index:
            out.append(",")
        _write(item, out, depth + 1)
    out.append("]")


def _number(value: float) -> str:
    if isinstance(value, int):
        if -_EXACT_INT <= value <= _EXACT_INT:
            return str(value)
        try:
            value = float(value)
        except OverflowError:
            raise CanonicalError("number out of float64 range") from None
    return go_float(value)


def _float_fragment(literal: str) -> orjson.Fragment:
    return orjson.Fragment(go_float(float(literal)).encode())


def _int_fast(literal: str) -> int | orjson.Fragment:
    if len(literal) < _SHORT_INT:
        return int(literal) if literal != "-0" else orjson.Fragment(b"-0")
    value = _parse_int(literal)
    return orjson.Fragment(_number(value).encode())


def _html_escape(encoded: bytes) -> bytes:
    # Four scans for a byte or two each (memchr) rather than one regular expression, which tries every position
    # (10 us for a 1 KB body, as much as the parse).
    if b"<" not in encoded and b">" not in encoded and b"&" not in encoded and b"\xe2\x80" not in encoded:
        return encoded
    for raw, escaped in _HTML_BYTES:
        encoded = encoded.replace(raw, escaped)
    return encoded


_FAST_DECODER = json.JSONDecoder(parse_float=_float_fragment, parse_int=_int_fast, parse_constant=_reject_constant)


def canonical_json(body: bytes) -> bytes:
    """The UTF-8 bytes Go would produce re-encoding ``body``; ``CanonicalError`` when Go would refuse it.

    Fast path: the C scanner parses, numbers become Go-formatted ``orjson.Fragment``s as they are read, and
    orjson writes the sorted document (its string escapes are Go's, but for the HTML ones added after).
    Bodies it cannot take exactly (unpaired surrogates, possibly deep nesting, invalid UTF-8) go the slow,
    pure-Python way. The golden corpus pins both paths to Go's output byte for byte.
    """
    if len(body) < _FAST_MAX_BYTES and body.count(b"{") + body.count(b"[") < MAX_DEPTH:
        try:
            document = _FAST_DECODER.decode(body.decode("utf-8"))
            return _html_escape(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))
        except (UnicodeDecodeError, TypeError, orjson.JSONEncodeError):
            pass  # the slow path decides, with Go's replacements
        except (ValueError, RecursionError) as exc:
            raise CanonicalError(f"body is not JSON: {exc}") from None
    return _canonical_slow(body)


def _canonical_slow(body: bytes) -> bytes:
    hook = _replace_surrogate_keys if _SURROGATE_ESCAPE.search(body) else None
    try:
        document = json.loads(
            body.decode("utf-8", errors="payhook-go-utf8"),
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            object_pairs_hook=hook,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CanonicalError(f"body is not JSON: {exc}") from None
    out: list[str] = []
    _write(document, out, 0)
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Go decodes an unpaired surrogate escape to U+FFFD.
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


_SHORT_ESCAPE = re.compile(rb"\\.")
_LEGACY = {b"\\b": b"\\u0008", b"\\f": b"\\u000c"}


def legacy_escapes(canonical: bytes) -> bytes | None:
    """Go before 1.22 wrote U+0008 and U+000C as \\u0008 and \\u000c, not \\b and \\f: the canonical form a
    server on an older Go signs, or None when the body holds neither character."""
    if b"\\b" not in canonical and b"\\f" not in canonical:
        return None
    return _SHORT_ESCAPE.sub(lambda m: _LEGACY.get(m.group(0), m.group(0)), canonical)
