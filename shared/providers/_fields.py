"""Helpers the provider modules share to read raw JSON safely into exact, typed values."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from shared.canonical import InvalidAmount, InvalidField, InvalidJson, MissingField

MAX_AMOUNT_DIGITS = 18


def parse_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidJson(f"body is a JSON {type(value).__name__}, expected an object")
    return value


def get(obj: dict[str, Any], path: str, *, required: bool = True) -> Any:
    """The value at dotted ``path``; ``MissingField`` names the path when it is absent or null."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            raise InvalidField(f"{path}: expected an object at {part!r}, got {type(current).__name__}")
        current = current.get(part)
        if current is None:
            if required:
                raise MissingField(f"{path} is missing")
            return None
    return current


def optional_text(obj: dict[str, Any], path: str, *, max_length: int = 255) -> str | None:
    value = get(obj, path, required=False)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(f"{path} must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidField(f"{path} is longer than {max_length} characters")
    return value


def text(obj: dict[str, Any], path: str, *, max_length: int = 255) -> str:
    """A required, non-empty string."""
    value = optional_text(obj, path, max_length=max_length)
    if not value:
        raise MissingField(f"{path} is missing or empty")
    return value


def decimal_amount(value: Any, path: str) -> Decimal:
    """An exact amount from a JSON number or a decimal string; floats never survive as floats."""
    if isinstance(value, bool):
        raise InvalidAmount(f"{path} must be a number, got a boolean")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAmount(f"{path} is not a finite number")
        # repr gives the shortest decimal that round-trips: the literal the provider sent.
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount(f"{path} is not a decimal number: {value[:40]!r}") from None
        if not amount.is_finite():
            raise InvalidAmount(f"{path} is not a finite number: {value[:40]!r}")
    else:
        raise InvalidAmount(f"{path} must be a number or a decimal string, got {type(value).__name__}")
    if amount < 0:
        raise InvalidAmount(f"{path} is negative: {amount}")
    if amount.adjusted() >= MAX_AMOUNT_DIGITS:
        raise InvalidAmount(f"{path} is too large: {amount:.3e}")
    return amount


def currency(obj: dict[str, Any], path: str) -> str:
    code = text(obj, path)
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InvalidField(f"{path} is not an ISO 4217 code: {code[:10]!r}")
    return code.upper()


def timestamp(obj: dict[str, Any], path: str) -> datetime | None:
    """An RFC 3339 time, fractional seconds of any length; None when absent or unreadable (never required)."""
    value = obj.get(path) if "." not in path else get(obj, path, required=False)
    if not isinstance(value, str):
        return None
    head, _, rest = value.partition(".")
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # RFC 3339 always carries an offset; a provider that leaves it out means UTC, and naive and aware times
    # must never meet in one comparison.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
