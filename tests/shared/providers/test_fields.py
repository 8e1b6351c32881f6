"""The field readers every normalizer uses: dotted paths, bounded strings, exact amounts, currencies, RFC 3339
times. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from shared.canonical import InvalidAmount, InvalidField, InvalidJson, MissingField
from shared.providers._fields import currency, decimal_amount, get, optional_text, parse_object, text, timestamp


def test_parse_object_takes_only_a_json_object() -> None:
    assert parse_object(b'{"a": 1}') == {"a": 1}
    for body in (b"[1]", b'"text"', b"null", b"{", b""):
        with pytest.raises(InvalidJson):
            parse_object(body)


def test_get_follows_a_dotted_path_and_names_it_when_missing() -> None:
    doc = {"data": {"amount": {"value": 5}, "empty": None}, "list": [1]}
    assert get(doc, "data.amount.value") == 5
    assert get(doc, "data.nothing", required=False) is None
    with pytest.raises(MissingField, match=r"data\.empty"):
        get(doc, "data.empty")
    with pytest.raises(InvalidField, match=r"list\.x"):
        get(doc, "list.x")


def test_text_is_a_bounded_non_empty_string() -> None:
    doc: dict[str, Any] = {"a": "x" * 10, "n": 3, "e": ""}
    assert text(doc, "a") == "x" * 10
    assert optional_text(doc, "missing") is None
    with pytest.raises(InvalidField):
        text(doc, "a", max_length=9)
    with pytest.raises(InvalidField):
        text(doc, "n")
    with pytest.raises(MissingField):
        text(doc, "e")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, Decimal(10)), (0.1, Decimal("0.1")), (1e2, Decimal("100.0")), (" 12.50 ", Decimal("12.50")), ("0", 0)],
)
def test_amounts_are_exact(value: Any, expected: Decimal) -> None:
    amount = decimal_amount(value, "amount")
    assert amount == expected and isinstance(amount, Decimal)


@pytest.mark.parametrize("value", [True, -1, "-0.5", "1e400", "NaN", "Infinity", float("inf"), "ten", None, [1]])
def test_amounts_refused_name_their_path(value: Any) -> None:
    with pytest.raises(InvalidAmount, match=r"data\.amount"):
        decimal_amount(value, "data.amount")


def test_currency_is_three_letters_upper_cased() -> None:
    assert currency({"c": "idr"}, "c") == "IDR"
    for wrong in ("ID", "IDRR", "1DR", "ÍDR"):
        with pytest.raises(InvalidField):
            currency({"c": wrong}, "c")


def test_timestamps_keep_their_offset_and_a_naive_one_means_utc() -> None:
    plus7 = timezone(timedelta(hours=7))
    assert timestamp({"t": "2025-06-24T09:56:40.020691396Z"}, "t") == datetime(2025, 6, 24, 9, 56, 40, 20691, UTC)
    assert timestamp({"t": "2025-06-24T09:56:40+07:00"}, "t") == datetime(2025, 6, 24, 9, 56, 40, tzinfo=plus7)
    naive = timestamp({"t": "2025-06-24T09:56:40"}, "t")
    assert naive is not None and naive.tzinfo is UTC
    assert timestamp({"t": "yesterday"}, "t") is None
    assert timestamp({"t": 1750758999}, "t") is None
    assert timestamp({}, "t") is None
