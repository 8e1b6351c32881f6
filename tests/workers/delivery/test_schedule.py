"""When a delivery's next attempt is due: the retry schedule with jitter, never shorter than it says, and
``Retry-After`` in seconds or as an HTTP date. Pure functions, no I/O."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from workers.delivery.schedule import JITTER, next_delay, retry_after_seconds


def test_the_schedule_never_waits_less_and_adds_at_most_ten_percent() -> None:
    schedule = (5.0, 300.0)
    rng = random.Random(1)
    first = [next_delay(1, schedule, rng=rng) for _ in range(1000)]
    assert all(d is not None and 5.0 <= d <= 5.0 * (1 + JITTER) for d in first)
    assert len(set(first)) > 900  # jittered
    assert 300.0 <= (next_delay(2, schedule, rng=rng) or 0) <= 330.0
    assert next_delay(3, schedule) is None  # spent: the delivery fails
    assert next_delay(1, schedule, retry_after=120.0) == 120.0
    assert next_delay(1, schedule, retry_after=10**9) == 86_400.0


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(minutes=2), usegmt=True), now) == 120.0
    assert retry_after_seconds(format_datetime(now - timedelta(minutes=2), usegmt=True), now) == 0.0
    for unreadable in (None, "", "soon", "-5", "1e3"):
        assert retry_after_seconds(unreadable, now) is None
