"""``payhook jobs ...``: bulk replays and purges, their progress, and cancelling them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.ops.cli.support import actor_name, actor_option, emit, fail, operator_service, reports_failures
from shared.ops.render import ago, line, styled, table, terminal
from shared.ops.service import OperatorService


def follow_with_progress(ops: OperatorService, job: dict[str, Any], quiet: bool, *, run: bool) -> dict[str, Any]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=terminal(),
        disable=quiet,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{job['kind']} (job {job['id']})", total=job["total"] or 1, completed=job["processed"])

        def show(current: dict[str, Any]) -> None:
            bar.update(task, completed=current["processed"], total=max(current["total"], current["processed"]) or 1)

        if run:
            ops.run_job(job["id"], progress=show)
        else:
            _follow(ops, job["id"], show)
    final = ops.job(job["id"])
    assert final is not None
    return final


def _follow(ops: OperatorService, job_id: int, show: Callable[[dict[str, Any]], None]) -> None:
    while True:
        current = ops.job(job_id)
        if current is None:
            return
        show(current)
        if current["status"] not in ("queued", "running"):
            return
        time.sleep(0.5)


@click.group("jobs")
def jobs_group() -> None:
    """Bulk replays and purges: their progress, and cancelling them."""


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def jobs_list(as_json: bool) -> None:
    """The latest jobs, newest first."""
    with operator_service() as ops:
        found = ops.jobs()
    if as_json:
        emit(found)
        return
    rows = [
        (
            j["id"],
            j["kind"],
            styled(j["status"]),
            f"{j['processed']}/{j['total']}",
            j["changed"],
            j["actor"],
            json.dumps(j["filters"]),
            ago(j["created_at"]),
        )
        for j in found
    ]
    terminal().print(table("Jobs", ("id", "kind", "status", "progress", "changed", "by", "filter", "started"), rows))


@jobs_group.command("show")
@click.argument("job_id", type=int)
@click.option("--follow", is_flag=True, help="show progress until the job ends")
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def jobs_show(job_id: int, follow: bool, as_json: bool) -> None:
    """One job's progress."""
    with operator_service() as ops:
        job = ops.job(job_id)
        if job is None:
            fail(f"no job {job_id}")
            return
        if follow:
            job = follow_with_progress(ops, job, as_json, run=False)
    if as_json:
        emit(job)
        return
    terminal().print(
        line(
            f"job {job['id']} {job['kind']} ",
            styled(job["status"]),
            f": {job['processed']}/{job['total']} processed, {job['changed']} changed, by {job['actor']}, "
            f"started {ago(job['created_at'])}",
        )
    )


@jobs_group.command("cancel")
@click.argument("job_id", type=int)
@actor_option
@reports_failures
def jobs_cancel(job_id: int, actor: str | None) -> None:
    """Stop a job after the chunk in hand (what it did stays done)."""
    with operator_service() as ops:
        job = ops.cancel_job(job_id, actor=actor_name(actor))
    if job is None:
        fail(f"no job {job_id}")
        return
    stopping = " (stopping after this chunk)" if job["cancel_requested"] else ""
    terminal().print(line(f"job {job_id}: ", styled(job["status"]), stopping))
