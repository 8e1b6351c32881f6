"""Dry runs that predict: what replaying dead letters would do now, computed by the real normalizers and state
machine against the current state, writing nothing.

Letters are simulated in the order a replay appends them (by id): an earlier letter's predicted change is the
state a later one of the same payment meets, and a later copy of an event key is a duplicate of the earlier.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.canonical import CanonicalEvent, NormalizeError, Outcome, Status
from shared.db.models import DeadLetter
from shared.providers import Provider
from shared.sealing import Sealer
from shared.transitions import decide

DEAD_LETTER = "dead_letter"
IGNORED = "ignored"
CHUNK = 1000

_KNOWN_KEYS = text("""
    SELECT DISTINCT e.provider, e.event_key
    FROM payment_events e
    JOIN unnest(CAST(:providers AS text[]), CAST(:keys AS text[])) AS k(provider, event_key)
      ON e.provider = k.provider AND e.event_key = k.event_key
    WHERE e.outcome <> 'duplicate'
""")
_PAYMENTS = text("""
    SELECT p.provider, p.payment_key, p.status, extract(epoch FROM p.status_received_at) AS arrived
    FROM payments p
    JOIN unnest(CAST(:providers AS text[]), CAST(:keys AS text[])) AS k(provider, payment_key)
      ON p.provider = k.provider AND p.payment_key = k.payment_key
""")


@dataclass(frozen=True, slots=True)
class Prediction:
    id: int
    # applied, duplicate, stale, conflict, dead_letter (or ignored: a provider's test ping).
    predicted: str
    reason: str | None = None
    # The payment's status after the replay (applied and conflict), and what it is now.
    status: str | None = None
    current_status: str | None = None
    detail: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "predicted": self.predicted,
            "reason": self.reason,
            "status": self.status,
            "current_status": self.current_status,
            "detail": self.detail,
        }


def summary(predictions: Sequence[Prediction]) -> dict[str, int]:
    return dict(Counter(p.predicted for p in predictions))


def predict(
    session: Session, letters: Sequence[DeadLetter], sealer: Sealer, providers: Mapping[str, Provider]
) -> list[Prediction]:
    """Each letter's predicted outcome, in replay order."""
    normalized = [_normalize(letter, sealer, providers) for letter in sorted(letters, key=lambda x: x.id)]
    events = [(letter, event) for letter, event in normalized if isinstance(event, CanonicalEvent)]
    known = _known_keys(session, [e for _, e in events])
    payments = _payments(session, [e for _, e in events])
    out: list[Prediction] = []
    for letter, event in normalized:
        if isinstance(event, Prediction):
            out.append(event)
        else:
            out.append(_simulate(letter, event, known, payments))
    return out


def _normalize(
    letter: DeadLetter, sealer: Sealer, providers: Mapping[str, Provider]
) -> tuple[DeadLetter, CanonicalEvent | Prediction]:
    provider = providers.get(letter.provider)
    if provider is None:
        detail = f"no provider module named {letter.provider!r}"
        return letter, Prediction(letter.id, DEAD_LETTER, "unknown_provider", detail=detail)
    try:
        event = provider.normalize(sealer.open(letter.body))
    except NormalizeError as exc:
        return letter, Prediction(letter.id, DEAD_LETTER, exc.reason, detail=exc.message)
    except Exception as exc:  # a normalizer bug: the replay would dead-letter it again
        detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-500:]}"
        return letter, Prediction(letter.id, DEAD_LETTER, "normalizer_crashed", detail=detail)
    if event is None:
        return letter, Prediction(letter.id, IGNORED, detail="accepted and changes nothing (a test ping)")
    return letter, event


def _simulate(
    letter: DeadLetter,
    event: CanonicalEvent,
    known: set[tuple[str, str]],
    payments: dict[tuple[str, str], tuple[Status | None, float | None]],
) -> Prediction:
    key = (event.provider, event.event_key)
    current, arrived = payments.get((event.provider, event.payment_key), (None, None))
    now = None if current is None else str(current)
    if key in known:
        return Prediction(letter.id, str(Outcome.DUPLICATE), status=now, current_status=now)
    known.add(key)
    incoming_arrived = letter.received_at.timestamp()
    decision = decide(current, event.status, current_arrived=arrived, incoming_arrived=incoming_arrived)
    if decision.status != current:
        payments[(event.provider, event.payment_key)] = (decision.status, incoming_arrived)
    return Prediction(letter.id, str(decision.outcome), status=str(decision.status), current_status=now)


def _known_keys(session: Session, events: list[CanonicalEvent]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for start in range(0, len(events), CHUNK):
        chunk = events[start : start + CHUNK]
        params = {"providers": [e.provider for e in chunk], "keys": [e.event_key for e in chunk]}
        found |= {(row.provider, row.event_key) for row in session.execute(_KNOWN_KEYS, params)}
    return found


def _payments(
    session: Session, events: list[CanonicalEvent]
) -> dict[tuple[str, str], tuple[Status | None, float | None]]:
    found: dict[tuple[str, str], tuple[Status | None, float | None]] = {}
    for start in range(0, len(events), CHUNK):
        chunk = events[start : start + CHUNK]
        params = {"providers": [e.provider for e in chunk], "keys": [e.payment_key for e in chunk]}
        for row in session.execute(_PAYMENTS, params):
            found[(row.provider, row.payment_key)] = (Status(row.status), float(row.arrived) if row.arrived else None)
    return found
