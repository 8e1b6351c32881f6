"""From stream entries to committed state: decode, normalize, apply in one transaction, isolate bad data."""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from shared.canonical import NormalizeError, Outcome
from shared.db import dead_letters as dlq
from shared.db import figures
from shared.db.apply import Item, Policy, apply_events
from shared.providers import Provider
from shared.queue import MalformedEntry, QueuedCallback
from shared.sealing import Sealer
from workers.retry import is_permanent_db_error

log = logging.getLogger(__name__)

Entry = tuple[str, Mapping[bytes, bytes]]


@dataclass(slots=True)
class Prepared:
    items: list[Item] = field(default_factory=list)
    rejected: list[dlq.Rejected] = field(default_factory=list)
    # Accepted callbacks that change nothing (a provider's test ping).
    ignored: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    # Events committed, by provider and outcome; dead letters, by provider and reason.
    events: Counter[tuple[str, Outcome]] = field(default_factory=Counter)
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)
    ignored: int = 0
    # Outbox deliveries made: the delivery loop has work. Payments to ask their provider about at once.
    deliveries: int = 0
    confirmations: int = 0

    @property
    def outcomes(self) -> Counter[Outcome]:
        totals: Counter[Outcome] = Counter()
        for (_provider, outcome), count in self.events.items():
            totals[outcome] += count
        return totals

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def add(self, other: Report) -> None:
        self.events.update(other.events)
        self.dead_letters.update(other.dead_letters)
        self.ignored += other.ignored
        self.deliveries += other.deliveries
        self.confirmations += other.confirmations


def prepare(
    entries: list[Entry], providers: Mapping[str, Provider], confirms: Callable[[Provider, str], bool] | None = None
) -> Prepared:
    """Normalize every entry; what can never be processed is set aside for the dead-letter queue. Callbacks of
    the accounts that ``confirms`` names (provider, account) wait for their status API's confirmation."""
    out = Prepared()
    for entry_id, fields in entries:
        try:
            callback = QueuedCallback.decode(fields)
        except MalformedEntry as exc:
            salvaged = QueuedCallback.salvage(entry_id, fields)
            out.rejected.append(dlq.Rejected(entry_id, salvaged, "malformed_entry", str(exc)))
            continue
        provider = providers.get(callback.provider)
        if provider is None:
            reason = f"no provider module named {callback.provider!r}"
            out.rejected.append(dlq.Rejected(entry_id, callback, "unknown_provider", reason))
            continue
        try:
            event = provider.normalize(callback.body)
        except NormalizeError as exc:
            out.rejected.append(dlq.Rejected(entry_id, callback, exc.reason, exc.message, traceback.format_exc()))
            continue
        except Exception as exc:  # a normalizer bug must not stop the stream; the callback waits for a fix
            # The traceback goes to the dead letter; the log names the type only (messages may quote the body).
            log.error("normalizer for %s crashed on entry %s: %s", callback.provider, entry_id, type(exc).__name__)
            detail = f"{type(exc).__name__}: {exc}"
            out.rejected.append(dlq.Rejected(entry_id, callback, "normalizer_crashed", detail, traceback.format_exc()))
            continue
        if event is None:
            out.ignored.append(entry_id)
            continue
        unconfirmed = confirms is not None and confirms(provider, callback.account)
        out.items.append(Item(entry_id, event, callback, unconfirmed=unconfirmed))
    return out


def commit(
    sessions: sessionmaker[Session], prepared: Prepared, sealer: Sealer, policy: Policy | None = None, shard: int = 0
) -> Report:
    """Apply the batch in one transaction. A callback whose data PostgreSQL refuses is isolated by halving
    the batch until it stands alone; it is dead-lettered and the rest commits. Transient errors propagate
    to the caller's retry loop; what already committed is recognised on the retry by its entry id. The
    console's per-minute figures are counted in the same transaction, as ``shard`` (the drain's slot)."""
    report = Report(ignored=len(prepared.ignored))
    report.add(_commit_isolating(sessions, prepared.items, prepared.rejected, sealer, policy or Policy(), shard))
    return report


def _commit_isolating(
    sessions: sessionmaker[Session],
    items: list[Item],
    rejected: list[dlq.Rejected],
    sealer: Sealer,
    policy: Policy,
    shard: int,
) -> Report:
    try:
        with sessions.begin() as session:
            applied = apply_events(session, items, sealer, policy)
            dlq.record(session, rejected, sealer)
            dead_letters = Counter((r.callback.provider, r.reason) for r in rejected)
            # Last in the transaction: the figures' rows stay locked only from here to the commit.
            figures.add(session, figures.tally(applied.outcomes, dead_letters), shard)
        _log_committed(items, rejected)
        return Report(
            events=applied.outcomes,
            dead_letters=dead_letters,
            deliveries=applied.deliveries,
            confirmations=applied.confirmations,
        )
    except Exception as exc:
        if not is_permanent_db_error(exc) or (not items and rejected):
            raise
        if len(items) > 1:
            middle = len(items) // 2
            report = _commit_isolating(sessions, items[:middle], rejected, sealer, policy, shard)
            report.add(_commit_isolating(sessions, items[middle:], [], sealer, policy, shard))
            return report
        item = items[0]
        log.warning("PostgreSQL refused entry %s: %s", item.entry_id, type(exc).__name__)
        bad = dlq.Rejected(item.entry_id, item.callback, "database_rejected", _first_line(exc), traceback.format_exc())
        return _commit_isolating(sessions, [], [*rejected, bad], sealer, policy, shard)


def _log_committed(items: list[Item], rejected: list[dlq.Rejected]) -> None:
    """One line per dead letter; one per committed event at DEBUG. The entry id is the 200's ``id``."""
    for r in rejected:
        log.warning(
            "dead-lettered", extra={"entry_id": r.entry_id, "provider": r.callback.provider, "reason": r.reason}
        )
    if log.isEnabledFor(logging.DEBUG):
        for item in items:
            extra = {"entry_id": item.entry_id, "provider": item.event.provider, "event_type": item.event.event_type}
            log.debug("committed", extra=extra)


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:500]
