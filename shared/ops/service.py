"""What operators do, in one place for the admin API, the CLI and the console: look payments up; list, show,
replay and purge dead letters; manage the outbox's endpoints and deliveries. Entry points own this object and
its connections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from shared.backlog import QueueStats, queue_stats_if_reachable
from shared.celery_app import JOB_TASK, make_celery
from shared.db import audit, checks, payment_search, payments, spool
from shared.db import dead_letters as dlq
from shared.db.payment_search import PaymentSearch
from shared.db.payments import find_payment, history
from shared.ops.accounts import AccountService
from shared.ops.audit import Refused, audited
from shared.ops.documents import (
    audit_document,
    conflict_document,
    letter_document,
    letter_summary,
    payment_document,
    payment_summary,
)
from shared.ops.jobs import JobRunner
from shared.ops.outbox import ROTATION_OVERLAP_SECONDS, OutboxService, ids_text
from shared.ops.predict import predict, summary
from shared.ops.reconcile import ReconcileService
from shared.ops.selections import LetterSelection, PaymentSelection
from shared.providers import all_providers, queried
from shared.queue import append_sync

# A dry run predicts at most this many letters (the first in replay order): it runs in the caller's process.
DRY_RUN_LIMIT = 10_000

__all__ = ["ROTATION_OVERLAP_SECONDS", "OperatorService", "Refused"]


class OperatorService(OutboxService, ReconcileService, AccountService):
    """Connections are made on first use: a command that only reads the database never touches Redis."""

    # -- payments ---------------------------------------------------------------------------------------

    def payment(self, provider: str, reference: str, account: str = "default") -> dict[str, Any] | None:
        with self.session() as session:
            found = find_payment(session, provider, reference, account)
            if found is None:
                return None
            return payment_document(found, history(session, found), checks.history(session, found.id))

    def payment_accounts(self, provider: str, reference: str) -> list[str]:
        """The accounts with a payment by this reference (an operator who forgot ``--account``)."""
        with self.session() as session:
            return payments.accounts_with(session, provider, reference)

    def search_payments(self, filters: PaymentSearch, *, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Payments the filters select, newest first, a keyset page at a time (``before``: the last id shown)."""
        with self.session() as session:
            return [payment_summary(p) for p in payment_search.search(session, filters, limit=limit, before=before)]

    def conflicts(
        self, *, provider: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[dict[str, Any]]:
        with self.session() as session:
            return [
                conflict_document(c) for c in payments.conflicts(session, provider=provider, limit=limit, before=before)
            ]

    # -- the queue --------------------------------------------------------------------------------------

    def queue(self) -> QueueStats | None:
        """The stream's numbers; None while Redis is unreachable."""
        return queue_stats_if_reachable(self.redis, self.keys)

    def spooled(self) -> int:
        with self.session() as session:
            return spool.count(session)

    def waiting_letters(self) -> int:
        with self.session() as session:
            return dlq.count_waiting(session)

    # -- dead letters -----------------------------------------------------------------------------------

    def letters(
        self, filters: dlq.Filters, *, limit: int, offset: int = 0, after: int | None = None
    ) -> list[dict[str, Any]]:
        with self.session() as session:
            found = dlq.list_letters(session, filters, limit=limit, offset=offset, after=after)
            return [letter_summary(x, self.sealer) for x in found]

    def letter_counts(self, filters: dlq.Filters) -> dict[str, int]:
        with self.session() as session:
            return dlq.counts_by_reason(session, filters)

    def letter(self, letter_id: int) -> dict[str, Any] | None:
        with self.session() as session:
            found = dlq.get(session, letter_id)
            return None if found is None else letter_document(found, self.sealer)

    def matching(self, filters: dlq.Filters) -> list[int]:
        with self.session() as session:
            return dlq.matching_ids(session, filters)

    def replay(self, letter_ids: Sequence[int], *, actor: str, filters: dlq.Filters | None = None) -> list[int]:
        """Send each letter's original callback through the pipeline again; the ids replayed."""
        chosen = filters.to_document() if filters else None
        with audited(self, actor, "dlq.replay", target=None if filters else ids_text(letter_ids), filters=chosen) as (
            session,
            done,
        ):
            replayed = self._replay(session, letter_ids)
            done.text, done.count = f"replayed {len(replayed)} of {len(letter_ids)}", len(replayed)
            return replayed

    def _replay(self, session: Session, letter_ids: Sequence[int]) -> list[int]:
        letters = dlq.mark_replayed(session, letter_ids) if letter_ids else []
        # Appended before the mark commits: a failed append marks nothing (see mark_replayed).
        _, took = append_sync(self.redis, self.keys, [dlq.original(letter, self.sealer) for letter in letters])
        if took:
            self.doorbell.ring(0)
        return [x.id for x in letters]

    def replay_chunk(self, session: Session, letter_ids: list[int]) -> int:
        """A bulk job's chunk, in the job's transaction; the job's audit entries cover it."""
        return len(self._replay(session, letter_ids))

    def purge_chunk(self, session: Session, letter_ids: list[int]) -> int:
        return dlq.purge(session, letter_ids)

    # -- bulk jobs --------------------------------------------------------------------------------------

    @cached_property
    def runner(self) -> JobRunner:
        return JobRunner(self, rate=self.settings.bulk_rate)

    def start_job(
        self, kind: str, filters: dlq.Filters, *, actor: str, background: bool = True
    ) -> tuple[dict[str, Any], bool]:
        """A bulk replay or purge of what ``filters`` select (the one already active, if any: False). In the
        background, a worker runs it; otherwise the caller runs it (``run_job``)."""
        job, created = self.runner.start(kind, LetterSelection(filters), actor=actor)
        if created and background:
            self.send_job(job["id"])
        return job, created

    def reconcile_all(
        self, *, actor: str, provider: str | None = None, status: str | None = None,
        since: datetime | None = None, until: datetime | None = None, background: bool = True,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        """A job that puts every payment the filters select in line for the reconciler, in chunks (it then asks at
        each provider's rate); the one already active for these filters, if any (False). Only providers whose
        status API is configured are selected."""
        names = (self.queried_provider(provider).name,) if provider else tuple(sorted(queried(self.settings.environ)))
        selection = PaymentSelection(names, status, since, until)
        job, created = self.runner.start("reconcile", selection, actor=actor)
        if created and background:
            self.send_job(job["id"])
        return job, created

    def reconcile_chunk(self, session: Session, payment_ids: list[int]) -> int:
        """A reconciliation job's chunk, in the job's transaction: these payments asked about first."""
        count = checks.ask_ids(session, payment_ids, reason="job")
        self.doorbell.ring_reconcile()
        return count

    def send_job(self, job_id: int) -> None:
        (self.celery or make_celery(self.settings)).send_task(JOB_TASK, kwargs={"job_id": job_id}, retry=False)

    def run_job(
        self,
        job_id: int,
        *,
        budget_seconds: float | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        yield_to_traffic: bool = False,
    ) -> str:
        return self.runner.run(
            job_id,
            budget_seconds=budget_seconds,
            progress=progress,
            acts={"replay": self.replay_chunk, "purge": self.purge_chunk, "reconcile": self.reconcile_chunk},
            yield_to_traffic=yield_to_traffic,
        )

    def job(self, job_id: int) -> dict[str, Any] | None:
        return self.runner.get(job_id)

    def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.runner.jobs(limit)

    def cancel_job(self, job_id: int, *, actor: str) -> dict[str, Any] | None:
        return self.runner.cancel(job_id, actor=actor)

    def dry_run(self, letter_ids: Sequence[int], *, actor: str, filters: dlq.Filters | None = None) -> dict[str, Any]:
        """What replaying the letters would do now, per letter and in sum; nothing changes but the audit
        trail, which records the dry run."""
        chosen = filters.to_document() if filters else None
        target = None if filters else ids_text(letter_ids)
        chosen_ids = sorted(letter_ids)[:DRY_RUN_LIMIT]
        with audited(self, actor, "dlq.replay", target=target, filters=chosen, dry_run=True) as (session, done):
            letters = dlq.waiting(session, chosen_ids) if chosen_ids else []
            predictions = predict(session, letters, self.sealer, all_providers())
            counts = summary(predictions)
            done.count = len(predictions)
            done.text = "dry run: " + (", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing")
            return {
                "letters": [p.document() for p in predictions],
                "summary": counts,
                # More than DRY_RUN_LIMIT letters: the first ones (the replay's order) are predicted.
                "selected": len(letter_ids),
                "truncated": len(letter_ids) > DRY_RUN_LIMIT,
            }

    def purge(self, letter_ids: Sequence[int], *, actor: str, filters: dlq.Filters | None = None) -> int:
        chosen = filters.to_document() if filters else None
        with audited(self, actor, "dlq.purge", target=None if filters else ids_text(letter_ids), filters=chosen) as (
            session,
            done,
        ):
            removed = dlq.purge(session, letter_ids)
            done.text, done.count = f"purged {removed} of {len(letter_ids)}", removed
            return removed

    # -- the audit trail --------------------------------------------------------------------------------

    def audit(self, *, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        with self.session() as session:
            return [audit_document(e) for e in audit.entries(session, limit=limit, before=before)]
