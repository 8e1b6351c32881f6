"""When the next attempt is due: the retry schedule with jitter, and ``Retry-After``. Pure functions."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

JITTER = 0.10
# The furthest a Retry-After answer may push the next attempt.
MAX_RETRY_AFTER_SECONDS = 86_400.0


def next_delay(
    attempts: int, schedule: Sequence[float], retry_after: float | None = None, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones, or None when the schedule is spent.

    Each delay of the schedule gets up to 10 % more (jitter spreads a failed endpoint's retries apart, and a
    delay is never shorter than the schedule says); a ``Retry-After`` answer sets the earliest next attempt.
    """
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * (1 + (rng or random).uniform(0, JITTER))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
