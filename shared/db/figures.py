"""Per-minute figures for the console's Overview charts, kept in PostgreSQL by payhook itself.

Counts (callbacks by provider and outcome, dead letters by provider) are added by the drain in the transaction
that commits the batch, so a figure counts exactly what committed; one statement per batch, whatever its size.
Each drain slot writes rows of its own (``shard``): two drains never wait on each other's row lock, which a
row would hold until its batch commits. Backlog samples are written by every worker's tick once a minute
(the largest sample of the minute wins). Rows older than ``KEEP_SECONDS`` are pruned by the tick.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.canonical import Outcome

KEEP_SECONDS = 3 * 86400.0
DEAD_LETTER = "dead_letter"
# Backlog samples are not any provider's: they are stored under this provider.
ALL = ""
QUEUED = "queued"
SPOOLED = "spooled"
WAITING_LETTERS = "letters_waiting"

Counts = Mapping[tuple[str, str], int]

_ADD = text("""
    INSERT INTO minute_figures (minute, provider, kind, shard, count)
    SELECT date_trunc('minute', now()), v.provider, v.kind, :shard, v.count
    FROM unnest(CAST(:providers AS text[]), CAST(:kinds AS text[]), CAST(:counts AS bigint[]))
         AS v(provider, kind, count)
    ON CONFLICT (minute, provider, kind, shard) DO UPDATE SET count = minute_figures.count + EXCLUDED.count
""")
_SAMPLE = text("""
    INSERT INTO minute_figures (minute, provider, kind, shard, count)
    SELECT date_trunc('minute', now()), :provider, v.kind, 0, v.count
    FROM unnest(CAST(:kinds AS text[]), CAST(:counts AS bigint[])) AS v(kind, count)
    ON CONFLICT (minute, provider, kind, shard) DO UPDATE SET count = GREATEST(minute_figures.count, EXCLUDED.count)
""")
_PRUNE = text("DELETE FROM minute_figures WHERE minute < now() - make_interval(secs => :keep)")
_SINCE = text("""
    SELECT minute, provider, kind, sum(count)::bigint AS total
    FROM minute_figures WHERE minute >= :start
    GROUP BY minute, provider, kind ORDER BY minute
""")


@dataclass(frozen=True, slots=True)
class Figure:
    minute: datetime
    provider: str
    kind: str
    count: int


def tally(events: Counter[tuple[str, Outcome]], dead_letters: Counter[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """A batch's counts by (provider, kind): each outcome of its events, and its dead letters (any reason)."""
    counts: Counter[tuple[str, str]] = Counter()
    for (provider, outcome), n in events.items():
        counts[(provider, str(outcome))] += n
    for (provider, _reason), n in dead_letters.items():
        counts[(provider, DEAD_LETTER)] += n
    return {key: n for key, n in counts.items() if n}


def add(session: Session, counts: Counts, shard: int = 0) -> None:
    """Add ``counts`` to this minute's figures of ``shard``, in the caller's transaction: one statement. Rows
    go in key order, so that two writers of one shard (a drain and a reclaim) lock them in the same order."""
    keys = sorted(k for k, n in counts.items() if n)
    if not keys:
        return
    session.execute(
        _ADD,
        {
            "shard": shard,
            "providers": [p for p, _ in keys],
            "kinds": [k for _, k in keys],
            "counts": [counts[key] for key in keys],
        },
    )


def sample(session: Session, values: Mapping[str, int], provider: str = ALL) -> None:
    """Record gauges (the backlog) for this minute; of several samples in one minute the largest is kept."""
    kinds = sorted(values)
    session.execute(_SAMPLE, {"provider": provider, "kinds": kinds, "counts": [values[k] for k in kinds]})


def prune(session: Session, keep_seconds: float = KEEP_SECONDS) -> int:
    result = session.execute(_PRUNE, {"keep": keep_seconds})
    return int(result.rowcount)  # type: ignore[attr-defined]


def since(session: Session, start: datetime) -> list[Figure]:
    """Every figure from ``start`` on, summed over the shards, oldest first."""
    rows = session.execute(_SINCE, {"start": start})
    return [Figure(row.minute, row.provider, row.kind, int(row.total)) for row in rows]
