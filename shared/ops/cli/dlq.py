"""``payhook dlq ...``: the dead-letter queue for people (tables, dry runs that predict, bulk actions with a
progress bar) and for scripts (``--json``, exit codes)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from shared.canonical import NormalizeError
from shared.db import dead_letters as dlq
from shared.db.letter_filters import FIELDS
from shared.ops.cli.jobs import follow_with_progress
from shared.ops.cli.support import (
    PROVIDER,
    IsoTime,
    OneOf,
    actor_name,
    actor_option,
    emit,
    fail,
    operator_service,
    reports_failures,
)
from shared.ops.render import ago, block, line, plural, pretty, shorten, styled, table, terminal, when
from shared.ops.service import OperatorService

F = TypeVar("F", bound=Callable[..., Any])
# The reasons the workers dead-letter a callback for: a normalizer's (one per ``NormalizeError``) and the
# pipeline's own (tests/ops/test_cli_words.py checks this list against the workers' source).
PIPELINE_REASONS = ("crashed_worker", "database_rejected", "malformed_entry", "normalizer_crashed", "unknown_provider")


def reasons() -> set[str]:
    found, classes = set(PIPELINE_REASONS), [NormalizeError]
    while classes:
        cls = classes.pop()
        found.add(cls.reason)
        classes.extend(cls.__subclasses__())
    return found


_KINDS: dict[str, OneOf] = {"provider": PROVIDER, "reason": OneOf("reason", reasons)}


def _filters(fn: F) -> F:
    """The filter options (one per ``FIELDS`` entry), handed to the command as one ``filters`` argument."""

    @wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        return fn(filters=dlq.Filters(**{field.name: kwargs.pop(field.name) for field in FIELDS}), **kwargs)

    for field in reversed(FIELDS):  # the last decorator applied is the first option listed
        kind = IsoTime() if field.kind == "time" else _KINDS.get(field.name)
        wrapper = click.option(field.option, field.name, type=kind, help=field.description)(wrapper)
    return wrapper  # type: ignore[return-value]


@click.group("dlq")
def dlq_group() -> None:
    """Inspect, replay and purge dead letters."""


@dlq_group.command("list")
@_filters
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--after", type=click.IntRange(0), default=0, help="the last id of the previous page")
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def dlq_list(filters: dlq.Filters, limit: int, after: int, as_json: bool) -> None:
    """Dead letters waiting for an operator, oldest first, a page at a time."""
    with operator_service() as ops:
        letters = ops.letters(filters, limit=limit, after=after or None)
        counts = ops.letter_counts(filters) if not as_json else {}
    if as_json:
        emit(letters)
        return
    rows = [
        (
            x["id"],
            x["provider"],
            styled(x["reason"]),
            x["event_type"],
            x["order_ref"],
            ago(x["created_at"]),
            shorten(x["detail"], 80),
        )
        for x in letters
    ]
    waiting = sum(counts.values())
    by_reason = ", ".join(f"{reason} {n}" for reason, n in counts.items())
    said = f"{len(letters)} of {plural(waiting, 'dead letter')} waiting ({by_reason})" if waiting else ""
    said = said or "no dead letters waiting"
    if len(letters) == limit:
        said += f"; next page: --after {letters[-1]['id']}"
    out = terminal()
    out.print(table("Dead letters", ("id", "provider", "reason", "event", "order", "created", "detail"), rows))
    out.print(line(said))  # below the table, not its caption: a caption wraps at the table's width


@dlq_group.command("counts")
@_filters
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def dlq_counts(filters: dlq.Filters, as_json: bool) -> None:
    """How many letters wait, by reason."""
    with operator_service() as ops:
        counts = ops.letter_counts(filters)
    if as_json:
        emit({"by_reason": counts, "total": sum(counts.values())})
        return
    rows = [(styled(reason), n) for reason, n in counts.items()]
    caption = f"{plural(sum(counts.values()), 'dead letter')} in all"
    terminal().print(table("Waiting dead letters by reason", ("reason", "letters"), rows, caption=caption))


@dlq_group.command("show")
@click.argument("letter_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def dlq_show(letter_id: int, as_json: bool) -> None:
    """One dead letter: the body pretty-printed, headers, reason, detail and traceback."""
    with operator_service() as ops:
        document = ops.letter(letter_id)
    if document is None:
        fail(f"no dead letter {letter_id}")
        return
    if as_json:
        emit(document)
        return
    out = terminal()
    facts = [
        ("id", document["id"]),
        ("provider", document["provider"]),
        ("reason", styled(document["reason"])),
        ("detail", document["detail"]),
        ("event type", document["event_type"]),
        ("order reference", document["order_ref"]),
        ("received", when(document["received_at"])),
        ("dead-lettered", when(document["created_at"])),
        ("replayed", when(document["replayed_at"])),
        ("headers", ", ".join(f"{k}: {v}" for k, v in document["headers"].items()) or "-"),
    ]
    out.print(table(f"Dead letter {letter_id}", None, facts))
    out.print(line(("body", "bold")))
    out.print(block(pretty(document["body"])))
    if document["traceback"]:
        out.print(line(("traceback", "bold")))
        out.print(block(document["traceback"]))


def _chosen(ops: OperatorService, ids: tuple[int, ...], select_all: bool, filters: dlq.Filters) -> list[int] | None:
    """The ids given, or None for --all (a job over the filter)."""
    if ids and select_all:
        fail("give dead-letter ids or --all, not both")
    if not ids and not select_all:
        fail("give dead-letter ids, or --all (with filters) for every matching one")
    return list(ids) if ids else None


@dlq_group.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "select_all", is_flag=True, help="every dead letter matching the filters (a job)")
@_filters
@click.option("--dry-run", is_flag=True, help="predict what a replay would do to each letter; change nothing")
@click.option("--background", is_flag=True, help="leave the job to the workers; print its id")
@click.option("--json", "as_json", is_flag=True)
@actor_option
@reports_failures
def dlq_replay(
    ids: tuple[int, ...],
    select_all: bool,
    filters: dlq.Filters,
    dry_run: bool,
    background: bool,
    as_json: bool,
    actor: str | None,
) -> None:
    """Send dead letters' original callbacks through the pipeline again. --dry-run predicts each one's outcome
    (applied, duplicate, stale, conflict, or dead_letter again with the reason) by the real normalizers and
    state machine against the current state. --all runs as a job: resumable, cancellable, rate-limited."""
    who = actor_name(actor)
    with operator_service() as ops:
        chosen = _chosen(ops, ids, select_all, filters)
        if dry_run:
            selected = chosen if chosen is not None else ops.matching(filters)
            report = ops.dry_run(selected, actor=who, filters=None if chosen is not None else filters)
            _print_predictions(report, as_json)
            missing = sorted(set(selected) - {x["id"] for x in report["letters"]})
        elif chosen is None:
            _run_job(ops, "replay", filters, who, background=background, as_json=as_json)
            return
        else:
            done = ops.replay(chosen, actor=who)
            emit({"replayed": done}) if as_json else terminal().print(f"replayed {plural(len(done), 'dead letter')}")
            missing = sorted(set(chosen) - set(done))
    if missing:
        fail(f"not waiting (no such dead letter, or replayed already): {' '.join(map(str, missing))}")


def _print_predictions(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(report)
        return
    rows = []
    for x in report["letters"]:
        change = f"{x['current_status'] or 'new'} -> {x['status']}" if x["predicted"] in ("applied", "conflict") else ""
        rows.append((x["id"], styled(x["predicted"]), change, x["reason"] or ""))
    total = ", ".join(f"{n} {what}" for what, n in sorted(report["summary"].items())) or "no dead letters"
    terminal().print(table("Dry run", ("id", "predicted", "status", "reason"), rows))
    terminal().print(f"dry run, nothing changed: {total}")


@dlq_group.command("purge")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "select_all", is_flag=True, help="every dead letter matching the filters (a job)")
@_filters
@click.option("--background", is_flag=True, help="leave the job to the workers; print its id")
@click.option("--yes", "confirmed", is_flag=True, help="purge without asking, also on a terminal")
@click.option("--json", "as_json", is_flag=True)
@actor_option
@reports_failures
def dlq_purge(
    ids: tuple[int, ...],
    select_all: bool,
    filters: dlq.Filters,
    background: bool,
    confirmed: bool,
    as_json: bool,
    actor: str | None,
) -> None:
    """Delete dead letters for good (replayed ones too, with --all). A person at a terminal is asked first
    (--yes skips the question); a script, off a terminal, is not asked (the command line of the contract)."""
    with operator_service() as ops:
        chosen = _chosen(ops, ids, select_all, filters)
        everything = dataclasses.replace(filters, include_replayed=True)
        if not confirmed and _interactive():
            count = len(chosen) if chosen is not None else len(ops.matching(everything))
            matching = "" if chosen is not None else " (every one the filters select, replayed ones too)"
            _confirm(f"purge {plural(count, 'dead letter')}{matching} for good?")
        if chosen is None:
            _run_job(ops, "purge", everything, actor_name(actor), background=background, as_json=as_json)
            return
        removed = ops.purge(chosen, actor=actor_name(actor))
    emit({"purged": removed}) if as_json else terminal().print(f"purged {plural(removed, 'dead letter')}")


def _confirm(question: str) -> None:
    """A purge cannot be undone: a person at a terminal says yes first."""
    if not click.confirm(question, err=True):
        fail("nothing purged")


def _interactive() -> bool:
    return sys.stdin.isatty()


def _run_job(
    ops: OperatorService, kind: str, filters: dlq.Filters, actor: str, *, background: bool, as_json: bool
) -> None:
    """Start the job (or find the one running for this filter) and, unless --background, run it here with a
    progress bar; one already running elsewhere is followed."""
    job, created = ops.start_job(kind, filters, actor=actor, background=background)
    if background:
        said = f"job {job['id']} {job['status']}: {kind} of {plural(job['total'], 'letter')}"
        emit(job) if as_json else terminal().print(said)
        return
    if not created:
        terminal().print(f"job {job['id']} for this filter is {job['status']} already: following it", style="dim")
    final = follow_with_progress(ops, job, as_json, run=created)
    if as_json:
        emit(final)
    else:
        verb = "replayed" if kind == "replay" else "purged"
        terminal().print(
            line(f"job {final['id']} ", styled(final["status"]), f": {verb} {final['changed']} of {final['total']}")
        )
    if final["status"] not in ("done",):
        fail(f"job {final['id']} ended {final['status']}{': ' + final['error'] if final['error'] else ''}")
