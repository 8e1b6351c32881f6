"""Claiming due deliveries and recording what their attempts did. Domain code: each function takes a
session inside a transaction and never commits.

A claim sets a delivery ``sending`` with a lease (``next_attempt_at`` = now + lease): a worker that dies
mid-attempt leaves it due again when the lease ends, and the same event (same ``webhook-id``, same bytes) is
sent again. Claims are serialized by an advisory lock, so that the per-endpoint bound on attempts in flight
holds across every worker. Only the head of each (consumer, payment) pair is claimed: the earliest
unfinished delivery in applied order; the ones behind it are deferred until it finishes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.canonical import DeliveryStatus
from shared.db.models import sql_in, sql_word
from shared.sealing import Sealer
from workers.delivery.schedule import next_delay

# pg_advisory_xact_lock key of the claim: "payhook" in ASCII, then 1.
CLAIM_LOCK = 0x706179686F6F6B01
# How far a delivery blocked behind an unfinished one is deferred at most: it is brought forward at once
# when the one before it finishes; this bounds its wait if that news is missed in a race.
MAX_DEFER = timedelta(seconds=30)
RESPONSE_BYTES = 1024
# The statuses as the SQL below spells them (the words stored).
_UNFINISHED = sql_in(DeliveryStatus.unfinished())
_PENDING, _SENDING, _DELIVERED = (
    sql_word(s) for s in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DELIVERED)
)

_CANDIDATES = text(f"""
    SELECT c.id, c.endpoint_id, c.payment_id, c.event_id
    FROM endpoints e
    CROSS JOIN LATERAL (
        SELECT d.id, d.endpoint_id, d.payment_id, d.event_id, d.next_attempt_at
        FROM deliveries d
        WHERE d.endpoint_id = e.id AND d.status IN {_UNFINISHED} AND d.next_attempt_at <= now()
        -- Earlier events first among equal times: a later event of a payment waits behind its earlier one.
        ORDER BY d.next_attempt_at, d.event_id
        LIMIT :per_endpoint
        FOR UPDATE OF d SKIP LOCKED
    ) c
    WHERE e.enabled
    ORDER BY c.next_attempt_at, c.id
""")  # noqa: S608 - fixed words of an enum, no input
# The head of each pair: one probe of the (endpoint, payment, event) index per pair, whatever the planner
# knows of the table (a burst into a table never analyzed must not turn this into a scan).
_HEADS = text(f"""
    SELECT k.endpoint_id, k.payment_id, h.id, h.next_attempt_at
    FROM (SELECT DISTINCT * FROM unnest(CAST(:endpoints AS bigint[]), CAST(:payments AS bigint[])))
         AS k(endpoint_id, payment_id)
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM deliveries d
        WHERE d.endpoint_id = k.endpoint_id AND d.payment_id = k.payment_id AND d.status IN {_UNFINISHED}
        ORDER BY d.event_id
        LIMIT 1
    ) h
""")  # noqa: S608 - fixed words of an enum, no input
_IN_FLIGHT = text(f"""
    SELECT endpoint_id, count(*) AS n FROM deliveries
    WHERE endpoint_id = ANY(CAST(:endpoints AS bigint[])) AND status = {_SENDING} AND next_attempt_at > now()
    GROUP BY endpoint_id
""")  # noqa: S608 - fixed words of an enum, no input
_TAKE = text(f"""
    UPDATE deliveries d
    SET status = {_SENDING}, attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => :lease)
    FROM outbox_events o, endpoints e
    WHERE d.id = ANY(CAST(:ids AS bigint[])) AND o.id = d.event_id AND e.id = d.endpoint_id
    RETURNING d.id, d.attempts, d.endpoint_id, d.payment_id, o.event_id, o.body, o.created_at, e.kind, e.url,
              e.handler, e.secret,
              CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret
""")  # noqa: S608 - fixed words of an enum, no input
_DEFER = text("""
    UPDATE deliveries d SET next_attempt_at = v.at
    FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[])) AS v(id, at)
    WHERE d.id = v.id
""")
_FINISH = text(f"""
    UPDATE deliveries d
    SET status = v.status, next_attempt_at = v.next_at, last_attempt_at = v.at, last_status_code = v.code,
        last_error = v.error, delivered_at = CASE WHEN v.status = {_DELIVERED} THEN v.at END
    FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]), CAST(:statuses AS text[]),
                CAST(:next_ats AS timestamptz[]), CAST(:ats AS timestamptz[]), CAST(:codes AS int[]),
                CAST(:errors AS text[])) AS v(id, attempts, status, next_at, at, code, error)
    WHERE d.id = v.id AND d.status = {_SENDING} AND d.attempts = v.attempts
    RETURNING d.endpoint_id, d.payment_id, d.status
""")  # noqa: S608 - fixed words of an enum, no input
# Only for deliveries that still exist: an endpoint removed while its attempt was in flight took them along.
_ATTEMPTS = text("""
    INSERT INTO delivery_attempts (delivery_id, attempted_at, duration_ms, status_code, response, error)
    SELECT v.* FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[]), CAST(:durations AS float8[]),
                           CAST(:codes AS int[]), CAST(:responses AS text[]), CAST(:errors AS text[]))
         AS v(delivery_id, attempted_at, duration_ms, status_code, response, error)
    JOIN deliveries d ON d.id = v.delivery_id
""")
# The next delivery of each pair whose earlier one just finished, due now: found by one probe of the
# (endpoint, payment, event) index per pair, then updated by id (robust against a table never analyzed).
_NEXT_OF_PAIRS = text(f"""
    SELECT f.id
    FROM (SELECT DISTINCT * FROM unnest(CAST(:endpoints AS bigint[]), CAST(:payments AS bigint[])))
         AS k(endpoint_id, payment_id)
    CROSS JOIN LATERAL (
        SELECT d.id, d.status, d.attempts, d.next_attempt_at FROM deliveries d
        WHERE d.endpoint_id = k.endpoint_id AND d.payment_id = k.payment_id AND d.status IN {_UNFINISHED}
        ORDER BY d.event_id
        LIMIT 1
    ) f
    WHERE f.status = {_PENDING} AND f.attempts = 0 AND f.next_attempt_at > now()
""")  # noqa: S608 - fixed words of an enum, no input
_PROMOTE = text("UPDATE deliveries SET next_attempt_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))")

_ANY_DUE = text(f"""
    SELECT EXISTS (
        SELECT 1 FROM endpoints e
        WHERE e.enabled AND EXISTS (
            SELECT 1 FROM deliveries d
            WHERE d.endpoint_id = e.id AND d.status IN {_UNFINISHED} AND d.next_attempt_at <= now()))
""")  # noqa: S608 - fixed words of an enum, no input
_PRUNE = text(f"""
    DELETE FROM outbox_events WHERE id IN (
        SELECT o.id FROM outbox_events o
        WHERE o.created_at < now() - make_interval(secs => :retention)
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = o.id AND d.status <> {_DELIVERED})
        ORDER BY o.created_at
        LIMIT :limit)
""")  # noqa: S608 - fixed words of an enum, no input
_DISABLE = text("""
    UPDATE endpoints SET enabled = false, disabled_reason = :reason, updated_at = now()
    WHERE id = ANY(CAST(:ids AS bigint[])) AND enabled
""")


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed delivery: what to send, where, signed with which secrets."""

    delivery_id: int
    attempt: int
    endpoint_id: int
    payment_id: int
    event_id: str
    body: bytes
    created_at: datetime
    kind: str
    url: str | None
    handler: str | None
    secrets: tuple[str, ...]


@dataclass(slots=True)
class Result:
    claim: Claim
    attempted_at: datetime
    duration_ms: float
    status_code: int | None = None
    response: str | None = None
    error: str | None = None
    retry_after: float | None = None
    # Retrying cannot help (the host is not allowed): failed at once.
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        return self.error is None and (self.status_code is None or 200 <= self.status_code < 300)

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass(slots=True)
class Recorded:
    # delivered, retried, failed (and disabled: endpoints that answered 410).
    results: Counter[str] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)


def relaxed_commit(session: Session) -> None:
    """This transaction's commit does not wait for the WAL flush. Safe for delivery bookkeeping: a claim or a
    result lost in a PostgreSQL crash leaves the delivery due again, and it is sent again (at least once, same
    id, same body), which is the guarantee anyway. Never for the batch that applies payment changes."""
    session.execute(text("SET LOCAL synchronous_commit = off"))


def claim(session: Session, sealer: Sealer, *, limit: int, per_endpoint: int, lease_seconds: float) -> list[Claim]:
    """Claim up to ``limit`` due deliveries, at most ``per_endpoint`` in flight per consumer (across workers)."""
    if limit <= 0:
        return []
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
    candidates = session.execute(_CANDIDATES, {"per_endpoint": per_endpoint * 4}).all()
    if not candidates:
        return []
    endpoints = sorted({c.endpoint_id for c in candidates})
    heads = {
        (h.endpoint_id, h.payment_id): h
        for h in session.execute(
            _HEADS,
            {"endpoints": [c.endpoint_id for c in candidates], "payments": [c.payment_id for c in candidates]},
        )
    }
    in_flight: Counter[int] = Counter(
        {row.endpoint_id: row.n for row in session.execute(_IN_FLIGHT, {"endpoints": endpoints})}
    )
    now = datetime.now(UTC)
    take: list[int] = []
    defer: list[tuple[int, datetime]] = []
    for c in candidates:
        head = heads[(c.endpoint_id, c.payment_id)]
        if head.id != c.id:
            if head.next_attempt_at > now:
                defer.append((c.id, min(head.next_attempt_at, now + MAX_DEFER)))
        elif len(take) < limit and in_flight[c.endpoint_id] < per_endpoint:
            take.append(c.id)
            in_flight[c.endpoint_id] += 1
    if defer:
        session.execute(_DEFER, {"ids": [i for i, _ in defer], "ats": [at for _, at in defer]})
    if not take:
        return []
    rows = session.execute(_TAKE, {"ids": take, "lease": lease_seconds}).all()
    order = {delivery_id: n for n, delivery_id in enumerate(take)}
    return sorted((_claim_of(row, sealer) for row in rows), key=lambda c: order[c.delivery_id])


def any_due(session: Session) -> bool:
    """Whether an enabled consumer has a delivery due (the tick rings a delivery loop then)."""
    return bool(session.execute(_ANY_DUE).scalar_one())


def prune(session: Session, retention_seconds: float, limit: int = 5000) -> int:
    """Delete events delivered to every consumer (or made when there was none) and older than the retention,
    with their deliveries and attempts; failed and unfinished ones stay. How many were deleted."""
    result = session.execute(_PRUNE, {"retention": retention_seconds, "limit": limit})
    return int(result.rowcount)  # type: ignore[attr-defined]


def _claim_of(row: Any, sealer: Sealer) -> Claim:
    secrets = [sealer.open(s).decode() for s in (row.secret, row.previous_secret) if s is not None]
    return Claim(
        delivery_id=row.id,
        attempt=row.attempts,
        endpoint_id=row.endpoint_id,
        payment_id=row.payment_id,
        event_id=row.event_id,
        body=row.body,
        created_at=row.created_at,
        kind=row.kind,
        url=row.url,
        handler=row.handler,
        secrets=tuple(secrets),
    )


def record(session: Session, results: list[Result], schedule: tuple[float, ...]) -> Recorded:
    """Record attempts and move each delivery on: delivered, due again later, failed, or (410) its endpoint
    disabled and the delivery kept pending for when it is enabled again. A result whose lease another worker
    took over meanwhile is recorded as an attempt and changes nothing else."""
    recorded = Recorded()
    if not results:
        return recorded
    now = datetime.now(UTC)
    ended = [r.attempted_at + timedelta(milliseconds=r.duration_ms) for r in results]
    statuses: list[DeliveryStatus] = []
    next_ats: list[datetime] = []
    gone: set[int] = set()
    for r in results:
        status, next_at, label = _next(r, schedule, now)
        if r.gone:
            gone.add(r.claim.endpoint_id)
        statuses.append(status)
        next_ats.append(next_at)
        recorded.results[label] += 1
        if status is DeliveryStatus.DELIVERED:
            recorded.lags.append((now - r.claim.created_at).total_seconds())
    _insert_attempts(session, results)
    finished = session.execute(
        _FINISH,
        {
            "ids": [r.claim.delivery_id for r in results],
            "attempts": [r.claim.attempt for r in results],
            "statuses": statuses,
            "next_ats": next_ats,
            "ats": ended,
            "codes": [r.status_code for r in results],
            "errors": [_clean(r.error) or _answer(r) for r in results],
        },
    ).all()
    _promote_next(
        session, [(row.endpoint_id, row.payment_id) for row in finished if row.status != DeliveryStatus.PENDING]
    )
    if gone:
        reason = f"the endpoint answered 410 Gone at {now.isoformat(timespec='seconds')}"
        session.execute(_DISABLE, {"ids": sorted(gone), "reason": reason})
    return recorded


def _insert_attempts(session: Session, results: list[Result]) -> None:
    session.execute(
        _ATTEMPTS,
        {
            "ids": [r.claim.delivery_id for r in results],
            "ats": [r.attempted_at for r in results],
            "durations": [r.duration_ms for r in results],
            "codes": [r.status_code for r in results],
            "responses": [_clean(r.response) for r in results],
            "errors": [_clean(r.error) for r in results],
        },
    )


def _promote_next(session: Session, finished: list[tuple[int, int]]) -> None:
    """The (endpoint, payment) pairs whose head was delivered or given up: their next delivery is due now."""
    if not finished:
        return
    pairs = {"endpoints": [e for e, _ in finished], "payments": [p for _, p in finished]}
    waiting = list(session.execute(_NEXT_OF_PAIRS, pairs).scalars())
    if waiting:
        session.execute(_PROMOTE, {"ids": waiting})


def _next(r: Result, schedule: tuple[float, ...], now: datetime) -> tuple[DeliveryStatus, datetime, str]:
    """The delivery's status after this attempt, when it is next due, and the metric's result label."""
    if r.delivered:
        return DeliveryStatus.DELIVERED, now, "delivered"
    if r.gone:
        # Kept pending: it goes out when an operator enables the endpoint again.
        return DeliveryStatus.PENDING, now, "disabled"
    delay = None if r.permanent else next_delay(r.claim.attempt, schedule, r.retry_after)
    if delay is None:
        return DeliveryStatus.FAILED, now, "failed"
    return DeliveryStatus.PENDING, now + timedelta(seconds=delay), "retried"


def _answer(r: Result) -> str | None:
    return None if r.delivered or r.status_code is None else f"answered {r.status_code}"


def _clean(value: str | None) -> str | None:
    """PostgreSQL text holds no NUL."""
    return None if value is None else value.replace("\x00", "\ufffd")[: RESPONSE_BYTES * 2]
