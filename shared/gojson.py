"""Canonical JSON exactly as Go's ``encoding/json`` re-encodes a generically parsed document.

Revenue Monster signs ``json.Marshal`` of the body decoded into ``map[string]interface{}``: keys sorted at
every depth, no whitespace, every number a float64 printed by Go's rules, ``<``, ``>``, ``&``, U+2028 and
U+2029 escaped. Reproducing that byte for byte is the only way to verify its signatures.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

MAX_DEPTH = 64
# Go's float64 holds every integer up to 2**53 exactly, and prints it as plain digits.
_EXACT_INT = 2**53
_encode_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class CanonicalError(ValueError):
    """The body is not a JSON document Go would accept."""


def _reject_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not JSON")


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
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise CanonicalError(f"JSON nested deeper than {MAX_DEPTH}")
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int):
        if -_EXACT_INT <= value <= _EXACT_INT:
            out.append(str(value))
        else:
            try:
                out.append(go_float(float(value)))
            except OverflowError:
                raise CanonicalError("number out of float64 range") from None
    elif isinstance(value, float):
        out.append(go_float(value))
    else:  # pragma: no cover - json.loads yields nothing else
        raise CanonicalError(f"unexpected JSON value {type(value).__name__}")


def canonical_json(body: bytes) -> bytes:
    """The UTF-8 bytes Go would produce re-encoding ``body``; ``CanonicalError`` when Go would refuse it."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CanonicalError(f"body is not JSON: {exc}") from None
    out: list[str] = []
    _write(document, out, 0)
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Go decodes an unpaired surrogate escape to U+FFFD.
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")
