"""Bulk actions as background jobs: replay or purge every dead letter a filter selects, or put every payment a
reconciliation selects in line for a query, in id order, in chunks, with progress, cancellable, rate-limited so
live traffic keeps flowing.

Starting a job twice (same kind, same filter) while it is queued or running finds the first one. A job runs
in a worker (``payhook.job``, handed back every few seconds for a fresh task) or, from the CLI, in the
foreground with a progress bar. Each chunk and the job's progress commit together, under the job's row lock
and only while its runner still holds it: a runner whose heartbeat stopped is taken over from the last chunk
it committed, and if it was only slow it finds the job gone from it and stops. Three failed chunks in a row
fail the job (its error is kept).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import RedisError
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from shared.backlog import queue_stats
from shared.connections import Connections
from shared.db import audit
from shared.db.models import OperatorJob
from shared.ops.audit import audited
from shared.ops.selections import Selection, selection_of

log = logging.getLogger(__name__)

# A chunk's work in the job's transaction: how many of its rows it changed.
Chunk = Callable[[Session, list[int]], int]
MAX_FAILURES = 3
# Each kind's audit action and what its count says.
KINDS = {
    "replay": ("dlq.replay", "replayed"),
    "purge": ("dlq.purge", "purged"),
    "reconcile": ("reconcile_all", "queued"),
}
CHUNK = 200
# A running job whose runner has not been heard of for this long is taken over.
STALE_SECONDS = 30.0
# Live traffic first: while more callbacks than this wait in the stream, a replay waits.
BACKLOG_LIMIT = 2000


def job_document(job: OperatorJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "filters": job.filters,
        "actor": job.actor,
        "status": job.status,
        "total": job.total,
        "processed": job.processed,
        "changed": job.changed,
        "cancel_requested": job.cancel_requested,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class JobRunner:
    """Starts, runs, cancels and reads jobs over the operator service's connections."""

    def __init__(self, ops: Connections, *, rate: float) -> None:
        self.ops = ops
        self.rate = rate

    def start(self, kind: str, selection: Selection, *, actor: str) -> tuple[dict[str, Any], bool]:
        """The job for ``kind`` and ``selection``: a new one (True), or the one already queued or running."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        chosen = selection.to_document()
        key = orjson.dumps(chosen, option=orjson.OPT_SORT_KEYS).decode()
        with self.ops.session() as session:
            up_to = selection.newest_id(session)
            total = selection.count(session, up_to=up_to)
            values = {
                "kind": kind,
                "filters": chosen,
                "filters_key": key,
                "actor": actor,
                "status": "queued",
                "up_to_id": up_to,
            }
            made = session.execute(
                insert(OperatorJob)
                .values(total=total, **values)
                .on_conflict_do_nothing(
                    index_elements=["kind", "filters_key"], index_where=text("status IN ('queued', 'running')")
                )
                .returning(OperatorJob.id)
            ).scalar_one_or_none()
            if made is None:
                active = session.scalars(
                    select(OperatorJob).where(
                        OperatorJob.kind == kind,
                        OperatorJob.filters_key == key,
                        OperatorJob.status.in_(("queued", "running")),
                    )
                ).one()
                return job_document(active), False
            audit.record(session, audit.Action(actor, KINDS[kind][0], f"started job {made}", None, chosen, total))
            job = session.get(OperatorJob, made)
            assert job is not None
            return job_document(job), True

    def get(self, job_id: int) -> dict[str, Any] | None:
        with self.ops.session() as session:
            job = session.get(OperatorJob, job_id)
            return None if job is None else job_document(job)

    def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.ops.session() as session:
            found = session.scalars(select(OperatorJob).order_by(OperatorJob.id.desc()).limit(limit))
            return [job_document(j) for j in found]

    def cancel(self, job_id: int, *, actor: str) -> dict[str, Any] | None:
        with audited(self.ops, actor, "job.cancel", target=f"job {job_id}") as (session, done):
            job = session.get(OperatorJob, job_id, with_for_update=True)
            if job is None:
                done.text, done.count = "no such job", 0
                return None
            if job.status == "queued":
                job.status, job.finished_at = "cancelled", datetime.now().astimezone()
            elif job.status == "running":
                job.cancel_requested = True
            done.text, done.count = f"{job.status}{' (stopping)' if job.cancel_requested else ''}", 1
            return job_document(job)

    def stale(self) -> list[int]:
        """Jobs nobody runs: queued for a while (their message was lost) or running without a heartbeat."""
        with self.ops.session() as session:
            rows = session.execute(
                text("""
                    SELECT id FROM operator_jobs
                    WHERE (status = 'queued' AND created_at < now() - interval '10 seconds')
                       OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => :stale))
                    ORDER BY id
                """),
                {"stale": STALE_SECONDS},
            )
            return [row.id for row in rows]

    # -- running ----------------------------------------------------------------------------------------

    def run(
        self,
        job_id: int,
        *,
        budget_seconds: float | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        acts: Mapping[str, Chunk],
        yield_to_traffic: bool = False,
    ) -> str:
        """Run the job until it is done, cancelled, failed, or the budget is spent (then it is handed back,
        queued, for the next runner: "running"); its status then. A job another runner holds is left to it
        ("held"). With ``yield_to_traffic`` (a worker's pool process) a replay that meets a live backlog hands
        the job back instead of waiting in a process a drain needs ("waiting")."""
        me = secrets.token_hex(8)
        job = self._take(job_id, me)
        if job is None:
            return "held"
        selection, act = selection_of(job.kind, job.filters), acts[job.kind]
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        started, done, failures = time.monotonic(), 0, 0
        while True:
            if not self._live_traffic_allows(job.kind, wait=not yield_to_traffic):
                return self._release(job_id, me, "waiting")
            try:
                outcome = self._chunk(job_id, me, selection, job.up_to_id, act)
            except Exception as exc:  # a chunk that fails rolls back whole; three in a row fail the job
                failures += 1
                log.warning("job %d: chunk failed (%d): %s", job_id, failures, exc)
                if failures >= MAX_FAILURES:
                    return self._fail(job_id, me, exc)
                time.sleep(1.0)
                continue
            failures = 0
            if isinstance(outcome, str):
                return outcome
            if progress:
                progress(outcome)
            done += CHUNK
            self._keep_rate(done, started)
            if deadline is not None and time.monotonic() >= deadline:
                return self._release(job_id, me, "running")

    def _chunk(self, job_id: int, me: str, selection: Selection, up_to: int, act: Chunk) -> dict[str, Any] | str:
        """One chunk and the job's progress in one transaction, under the job's row lock: either both or
        neither, so no letter is done twice. The job's document, or how the run ends."""
        with self.ops.session() as session:
            job = session.get(OperatorJob, job_id, with_for_update=True)
            if job is None or job.runner != me:
                return "held"  # taken over (this runner was thought dead), or gone
            if job.cancel_requested:
                return self._finish(session, job, "cancelled")
            ids = selection.ids(session, after=job.last_id, up_to=up_to, limit=CHUNK)
            if not ids:
                return self._finish(session, job, "done")
            changed = act(session, ids)
            job.processed += len(ids)
            job.changed += changed
            job.last_id = ids[-1]
            job.heartbeat_at = datetime.now(UTC)
            return job_document(job)

    def _take(self, job_id: int, me: str) -> OperatorJob | None:
        with self.ops.session() as session:
            taken = session.execute(
                update(OperatorJob)
                .where(
                    OperatorJob.id == job_id,
                    (OperatorJob.status == "queued")
                    | (
                        (OperatorJob.status == "running")
                        & (OperatorJob.heartbeat_at < text("now() - make_interval(secs => :stale)"))
                    ),
                )
                .values(
                    status="running",
                    runner=me,
                    heartbeat_at=text("now()"),
                    started_at=text("coalesce(started_at, now())"),
                )
                .returning(OperatorJob)
                .execution_options(synchronize_session=False),
                {"stale": STALE_SECONDS},
            ).scalar_one_or_none()
            if taken is not None:
                session.expunge(taken)
            return taken

    def _release(self, job_id: int, me: str, how: str) -> str:
        """Hand the job back, queued, for the next runner (a fresh task, or the tick's resume)."""
        with self.ops.session() as session:
            session.execute(
                update(OperatorJob)
                .where(OperatorJob.id == job_id, OperatorJob.runner == me, OperatorJob.status == "running")
                .values(status="queued", runner=None)
            )
        return how

    def _finish(self, session: Session, job: OperatorJob, status: str) -> str:
        job.status, job.finished_at, job.runner = status, datetime.now(UTC), None
        action, verb = KINDS[job.kind]
        outcome = f"job {job.id} {status}: {verb} {job.changed} of {job.total}"
        audit.record(session, audit.Action(job.actor, action, outcome, None, job.filters, job.changed))
        return status

    def _fail(self, job_id: int, me: str, exc: Exception) -> str:
        with self.ops.session() as session:
            job = session.get(OperatorJob, job_id, with_for_update=True)
            if job is None or job.runner != me:
                return "held"
            job.error = f"{type(exc).__name__}: {exc}"[:500]
            return self._finish(session, job, "failed")

    def _keep_rate(self, done: int, started: float) -> None:
        ahead = done / self.rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)

    def _live_traffic_allows(self, kind: str, *, wait: bool, longest: float = 5.0) -> bool:
        """A replay adds to the stream: while more live callbacks than ``BACKLOG_LIMIT`` wait there, it waits
        (at most ``longest``, then goes on) or, with ``wait`` false, says no."""
        if kind != "replay":
            return True
        deadline = time.monotonic() + longest
        while True:
            try:
                waiting = queue_stats(self.ops.redis, self.ops.keys).queued
            except RedisError:
                return True  # the replay's own append will say what is wrong
            if waiting < BACKLOG_LIMIT:
                return True
            if not wait:
                return False
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.2)
