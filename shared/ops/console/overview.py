"""The console's Overview: each stage's health, read when the page renders, and charts of the last hours from
the per-minute figures payhook keeps itself (``shared.db.figures``), so the page needs no Prometheus.

What the charts count, honestly: callbacks the drain committed (by the minute they committed, not the minute
they arrived), by provider and by outcome; dead letters among them (a malformed or unverifiable body the
drain refused). The receiver's own refusals (a bad signature, an unknown route) never reach the drain and are
not counted here: the metrics have them. Status API answers (reconciliation) are not counted either. The
backlog chart is sampled by the workers' tick once a minute (the largest sample of the minute)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import redis.exceptions
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import liveness
from shared.backlog import QueueStats, queue_stats
from shared.canonical import DeliveryStatus, Outcome
from shared.connections import Connections
from shared.db import checks, figures, spool
from shared.db import dead_letters as dlq
from shared.db.models import DeadLetter, Delivery
from shared.ops.console.svg import Series, line_chart

HOURS = 3
# A queue whose oldest callback waited this long is worth a look.
SLOW_SECONDS = 60.0
RESULTS = (*(str(o) for o in Outcome), figures.DEAD_LETTER)
BACKLOG = (
    (figures.QUEUED, "queued or in flight"),
    (figures.SPOOLED, "spooled"),
    (figures.WAITING_LETTERS, "dead letters waiting"),
)


State = Literal["ok", "warn", "bad"]


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    value: str
    state: State
    note: str = ""


@dataclass(slots=True)
class Overview:
    stages: list[Stage]
    charts: list[tuple[str, Markup]]
    # The last hour's committed callbacks: provider -> result -> count (the charts' numbers, as a table).
    last_hour: dict[str, dict[str, int]] = field(default_factory=dict)
    results: tuple[str, ...] = RESULTS


def gather(ops: Connections, now: datetime | None = None, hours: int = HOURS) -> Overview:
    """Everything the page shows: a few cheap counts (indexed), the queue's numbers, the figures since
    ``hours`` ago."""
    now = now or datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(hours=hours) + timedelta(minutes=1)
    with ops.session() as session:
        db = _database_figures(session, now)
        found = figures.since(session, start)
    queue, alive = _redis_figures(ops)
    return Overview(_stages(queue, alive, db), _charts(found, start, hours * 60), _last_hour(found, now))


def _database_figures(session: Session, now: datetime) -> dict[str, int]:
    """Counts each answered by an index (never a scan of the deliveries or the events)."""
    new_letters = select(func.count()).select_from(DeadLetter).where(DeadLetter.created_at >= now - timedelta(hours=1))
    failing = select(func.count()).select_from(Delivery).where(Delivery.status == str(DeliveryStatus.FAILED))
    return {
        "spooled": spool.count(session),
        "letters": dlq.count_waiting(session),
        "new_letters": int(session.execute(new_letters).scalar_one()),
        "failing": int(session.execute(failing).scalar_one()),
        "unresolved": checks.count_unresolved(session),
    }


def _redis_figures(ops: Connections) -> tuple[QueueStats | None, int | None]:
    """The queue's numbers and the workers alive; None for both while Redis is unreachable."""
    try:
        return queue_stats(ops.redis, ops.keys), liveness.alive(ops.redis, ops.keys)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return None, None


def _stages(queue: QueueStats | None, alive: int | None, db: dict[str, int]) -> list[Stage]:
    return [
        Stage("Receiver", "accepting" if queue else "spooling", "ok" if queue else "bad",
              "" if queue else "Redis is unreachable: callbacks are kept in the spool"),
        _queue_stage(queue),
        Stage("Spool", str(db["spooled"]), "warn" if db["spooled"] else "ok",
              "moved into the queue by the workers" if db["spooled"] else "empty"),
        Stage("Workers alive", "?" if alive is None else str(alive), "bad" if not alive else "ok",
              f"ticked in the last {liveness.WINDOW_SECONDS:.0f} s"),
        Stage("Dead letters waiting", str(db["letters"]), "warn" if db["new_letters"] else "ok",
              f"{db['new_letters']} new in the last hour"),
        Stage("Deliveries failing", str(db["failing"]), "warn" if db["failing"] else "ok",
              "gave up: retry them from Deliveries" if db["failing"] else ""),
        Stage("Unresolved payments", str(db["unresolved"]), "warn" if db["unresolved"] else "ok",
              "their provider's status API never settled them" if db["unresolved"] else ""),
    ]  # fmt: skip


def _queue_stage(queue: QueueStats | None) -> Stage:
    if queue is None:
        return Stage("Queue", "?", "bad", "Redis is unreachable")
    oldest = queue.oldest_waiting_seconds
    note = "nothing waits" if oldest is None else f"oldest waiting {_duration(oldest)}"
    if queue.in_flight:
        note += f"; {queue.in_flight} in flight"
    state: State = "warn" if oldest is not None and oldest > SLOW_SECONDS else "ok"
    return Stage("Queue depth", str(queue.queued), state, note)


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _charts(found: list[figures.Figure], start: datetime, minutes: int) -> list[tuple[str, Markup]]:
    by_provider: dict[str, list[int]] = defaultdict(lambda: [0] * minutes)
    by_result: dict[str, list[int]] = defaultdict(lambda: [0] * minutes)
    backlog: dict[str, list[int]] = defaultdict(lambda: [0] * minutes)
    for figure in found:
        index = int((figure.minute - start).total_seconds() // 60)
        if not 0 <= index < minutes:
            continue
        if figure.provider == figures.ALL:
            backlog[figure.kind][index] = figure.count
        else:
            by_provider[figure.provider][index] += figure.count
            by_result[figure.kind][index] += figure.count
    titles = (
        "Callbacks committed per minute, by provider",
        "Callbacks committed per minute, by outcome",
        "Backlog, sampled each minute",
    )
    series = (
        [Series(name, values) for name, values in sorted(by_provider.items())],
        [Series(kind, by_result[kind]) for kind in RESULTS if kind in by_result],
        [Series(label, backlog[kind]) for kind, label in BACKLOG if kind in backlog],
    )
    gauges = (False, False, True)  # the backlog is sampled: its legend gives the last sample, not a sum
    return [
        (title, line_chart(title, start, lines, gauge=gauge))
        for title, lines, gauge in zip(titles, series, gauges, strict=True)
    ]


def _last_hour(found: list[figures.Figure], now: datetime) -> dict[str, dict[str, int]]:
    since = now - timedelta(hours=1)
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(RESULTS, 0))
    for figure in found:
        if figure.provider != figures.ALL and figure.minute >= since.replace(second=0, microsecond=0):
            table[figure.provider][figure.kind] = table[figure.provider].get(figure.kind, 0) + figure.count
    return dict(sorted(table.items()))
