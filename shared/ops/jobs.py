"""Bulk actions as background jobs: replay or purge every dead letter a filter selects, in id order, in
chunks, with progress, cancellable, rate-limited so live traffic keeps flowing.

Starting a job twice (same kind, same filter) while it is queued or running finds the first one. A job runs
in a worker (``payhook.job``, handed over to a fresh task every few seconds) or, from the CLI, in the
foreground with a progress bar; its heartbeat lets another runner take it over if its runner dies, from the
last letter it finished (a chunk is one transaction, so none is done twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from redis.exceptions import RedisError
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert

from shared.backlog import queue_stats
from shared.db import audit
from shared.db import dead_letters as dlq
from shared.db.models import OperatorJob
from shared.ops.base import Connections, filters_document

log = logging.getLogger(__name__)

JOB_TASK = "payhook.job"
KINDS = ("replay", "purge")
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


def filters_from(document: dict[str, Any]) -> dlq.Filters:
    values = dict(document)
    for name in ("since", "until"):
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    return dlq.Filters(**values)


class JobRunner:
    """Starts, runs, cancels and reads jobs over the operations' connections."""

    def __init__(self, ops: Connections, *, rate: float) -> None:
        self.ops = ops
        self.rate = rate

    def start(self, kind: str, filters: dlq.Filters, *, actor: str) -> tuple[dict[str, Any], bool]:
        """The job for ``kind`` and ``filters``: a new one (True), or the one already queued or running."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        chosen = filters_document(filters)
        key = orjson.dumps(chosen, option=orjson.OPT_SORT_KEYS).decode()
        with self.ops.session() as session:
            up_to = dlq.newest_id(session)
            total = dlq.count_matching(session, filters, up_to=up_to)
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
            audit.record(session, audit.Action(actor, f"dlq.{kind}", f"started job {made}", None, chosen, total))
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
        with self.ops.audited(actor, "job.cancel", target=f"job {job_id}") as (session, done):
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
        replay: Callable[[list[int]], int],
        purge: Callable[[list[int]], int],
    ) -> str:
        """Run the job until it is done, cancelled, or the budget is spent; its status then. A job another
        runner holds is left to it ("held")."""
        job = self._take(job_id)
        if job is None:
            return "held"
        filters = filters_from(job.filters)
        act = replay if job.kind == "replay" else purge
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        last_id, started = job.last_id, time.monotonic()
        processed = job.processed
        while True:
            state = self._state(job_id)
            if state.cancel_requested:
                return self._finish(job_id, "cancelled")
            with self.ops.session() as session:
                ids = dlq.matching_ids(session, filters, after=last_id, up_to=job.up_to_id, limit=CHUNK)
            if not ids:
                return self._finish(job_id, "done")
            self._wait_for_live_traffic(job.kind)
            changed = act(ids)
            last_id, processed = ids[-1], processed + len(ids)
            document = self._advance(job_id, len(ids), changed, last_id)
            if progress:
                progress(document)
            self._keep_rate(processed - job.processed, started)
            if deadline is not None and time.monotonic() >= deadline:
                return "running"

    def _take(self, job_id: int) -> OperatorJob | None:
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
                .values(status="running", heartbeat_at=text("now()"), started_at=text("coalesce(started_at, now())"))
                .returning(OperatorJob)
                .execution_options(synchronize_session=False),
                {"stale": STALE_SECONDS},
            ).scalar_one_or_none()
            if taken is not None:
                session.expunge(taken)
            return taken

    def _state(self, job_id: int) -> OperatorJob:
        with self.ops.session() as session:
            job = session.get(OperatorJob, job_id)
            assert job is not None
            session.expunge(job)
            return job

    def _advance(self, job_id: int, processed: int, changed: int, last_id: int) -> dict[str, Any]:
        with self.ops.session() as session:
            job = session.get(OperatorJob, job_id, with_for_update=True)
            assert job is not None
            job.processed += processed
            job.changed += changed
            job.last_id = last_id
            job.heartbeat_at = datetime.now().astimezone()
            return job_document(job)

    def _finish(self, job_id: int, status: str) -> str:
        with self.ops.session() as session:
            job = session.get(OperatorJob, job_id, with_for_update=True)
            assert job is not None
            job.status, job.finished_at = status, datetime.now().astimezone()
            verb = "replayed" if job.kind == "replay" else "purged"
            outcome = f"job {job.id} {status}: {verb} {job.changed} of {job.total}"
            audit.record(session, audit.Action(job.actor, f"dlq.{job.kind}", outcome, None, job.filters, job.changed))
        return status

    def _keep_rate(self, done: int, started: float) -> None:
        ahead = done / self.rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)

    def _wait_for_live_traffic(self, kind: str, longest: float = 5.0) -> None:
        """A replay adds to the stream: while live callbacks wait there, it waits (at most ``longest``)."""
        if kind != "replay":
            return
        deadline = time.monotonic() + longest
        while time.monotonic() < deadline:
            try:
                waiting = queue_stats(self.ops.redis, self.ops.keys).queued
            except RedisError:
                return  # the replay's own append will say what is wrong
            if waiting < BACKLOG_LIMIT:
                return
            time.sleep(0.2)
