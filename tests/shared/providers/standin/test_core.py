"""The stand-in's shared parts: its movable clock and its time formats. No I/O."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from shared.providers._standin.core import Clock, ControlError, Fault, iso, local_time, parse_iso


def test_the_clock_moves_by_an_offset_and_goes_back_to_wall_time() -> None:
    clock = Clock()
    clock.set(1_000_000.0)
    assert abs(clock.now() - 1_000_000.0) < 5
    clock.advance(3600)
    assert abs(clock.now() - 1_003_600.0) < 5
    clock.reset()
    assert abs(clock.now() - time.time()) < 5


def test_iso_prints_whole_seconds_in_utc_and_parse_iso_reads_it_back() -> None:
    assert iso(1_735_700_650.9) == "2025-01-01T03:04:10Z"
    assert parse_iso("2025-01-01T03:04:10Z", "at") == 1_735_700_650.0
    assert parse_iso("2025-01-01T10:04:10+07:00", "at") == 1_735_700_650.0
    assert parse_iso("2025-01-01T03:04:10", "at") == 1_735_700_650.0  # naive means UTC


@pytest.mark.parametrize("value", ["tomorrow", 1_735_700_650, None])
def test_parse_iso_refuses_with_a_400_naming_the_field(value: object) -> None:
    with pytest.raises(ControlError) as caught:
        parse_iso(value, "paidAt")
    assert caught.value.status == 400 and "paidAt" in caught.value.message


def test_local_time_applies_the_offset() -> None:
    moment = datetime(2025, 1, 1, 20, 0, tzinfo=UTC).timestamp()
    assert local_time(moment, 8, "%Y-%m-%d %H:%M") == "2025-01-02 04:00"


def test_a_fault_shows_every_field() -> None:
    view = Fault("pivot", "slow", remaining=2).view()
    assert view["provider"] == "pivot" and view["mode"] == "slow" and view["remaining"] == 2
