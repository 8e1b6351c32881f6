"""The ``payhook`` command: migrations, payment lookups, the dead-letter queue and queue statistics."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from shared.db import dead_letters as dlq
from shared.db.migrate import upgrade
from shared.ops.cli_outbox import deliveries, endpoints
from shared.ops.cli_support import _actor, _actor_name, _emit, _fail, _operations, _reasons
from shared.ops.service import Operations
from shared.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def main() -> None:
    """payhook: payment-callback ingestion. Settings come from PAYHOOK_* environment variables."""


@main.command()
@_reasons
def migrate() -> None:
    """Bring the database schema to the latest version (idempotent)."""
    upgrade(Settings.from_env())
    click.echo("schema is at the latest revision")


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="the web process's port")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=Path(".payhook"), show_default=True, help="data and logs"
)
@click.option("--postgres-port", type=click.IntRange(1, 65535), default=55432, show_default=True)
@click.option("--redis-port", type=click.IntRange(1, 65535), default=56379, show_default=True)
@_reasons
def dev(port: int, data_dir: Path, postgres_port: int, redis_port: int) -> None:
    """Run the whole pipeline here: embedded PostgreSQL and Redis (unless their URLs are set), web, worker, beat."""
    from shared.ops.dev import run  # noqa: PLC0415 - only this command needs it
    from shared.ops.embedded import EmbeddedError  # noqa: PLC0415

    try:
        code = run(data_dir, port, postgres_port, redis_port)
    except EmbeddedError as exc:
        _fail(str(exc))
        return
    sys.exit(code)


@main.group()
def payments() -> None:
    """Look up payments."""


@payments.command("show")
@click.argument("provider")
@click.argument("order_ref")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
@_reasons
def payments_show(provider: str, order_ref: str, as_json: bool) -> None:
    """A payment with its event history in arrival order."""
    with _operations() as ops:
        document = ops.payment(provider, order_ref)
    if document is None:
        _fail(f"no {provider} payment with order reference {order_ref!r}")
        return
    if as_json:
        _emit(document)
        return
    click.echo(
        f"{document['provider']} {document['order_ref'] or document['payment_key']}: {document['status']}"
        f"  {document['amount'] or '-'} {document['currency'] or ''}"
    )
    for event in document["events"]:
        click.echo(f"  {event['received_at']}  {event['type']:<28} {event['status']:<20} {event['outcome']}")


@main.group("dlq")
def dlq_group() -> None:
    """Inspect, replay and purge dead letters."""


class _IsoTime(click.ParamType):  # type: ignore[type-arg]
    """ISO 8601, with or without a zone (``Z``, ``+07:00``); a time without one is UTC."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_ISO_TIME = _IsoTime()


def _filters(fn: F) -> F:
    fn = click.option("--provider", help="only this provider")(fn)
    fn = click.option("--reason", help="only this reason code")(fn)
    fn = click.option("--since", type=_ISO_TIME, help="created at or after (ISO 8601)")(fn)
    return click.option("--until", type=_ISO_TIME, help="created before (ISO 8601)")(fn)


def _make_filters(
    provider: str | None, reason: str | None, since: datetime | None, until: datetime | None
) -> dlq.Filters:
    return dlq.Filters(provider=provider, reason=reason, since=since, until=until)


@dlq_group.command("list")
@_filters
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_reasons
def dlq_list(
    provider: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Dead letters waiting for an operator, oldest first."""
    with _operations() as ops:
        letters = ops.letters(_make_filters(provider, reason, since, until), limit=limit)
    if as_json:
        _emit(letters)
        return
    for x in letters:
        click.echo(f"{x['id']:>8}  {x['created_at'][:19]}  {x['provider']:<16} {x['reason']:<20} {x['detail'][:60]}")


@dlq_group.command("show")
@click.argument("letter_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@_reasons
def dlq_show(letter_id: int, as_json: bool) -> None:
    """One dead letter with its raw body, headers, reason and traceback."""
    with _operations() as ops:
        document = ops.letter(letter_id)
    if document is None:
        _fail(f"no dead letter {letter_id}")
        return
    if as_json:
        _emit(document)
        return
    for key in ("id", "provider", "reason", "detail", "received_at", "created_at", "replayed_at", "headers"):
        click.echo(f"{key}: {document[key]}")
    click.echo("body:")
    click.echo(document["body"])
    if document["traceback"]:
        click.echo("traceback:")
        click.echo(document["traceback"])


def _selected(ops: Operations, ids: tuple[int, ...], select_all: bool, filters: dlq.Filters) -> list[int]:
    if ids and select_all:
        _fail("give dead-letter ids or --all, not both")
    if not ids and not select_all:
        _fail("give dead-letter ids, or --all (with filters) for every matching one")
    return list(ids) if ids else ops.matching(filters)


@dlq_group.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "select_all", is_flag=True, help="every dead letter matching the filters")
@_filters
@click.option("--dry-run", is_flag=True, help="predict what a replay would do to each letter; change nothing")
@click.option("--json", "as_json", is_flag=True)
@_actor
@_reasons
def dlq_replay(
    ids: tuple[int, ...],
    select_all: bool,
    provider: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    dry_run: bool,
    as_json: bool,
    actor: str | None,
) -> None:
    """Send dead letters' original callbacks through the pipeline again (--dry-run: predict the outcome of
    each, computed by the real normalizers and state machine against the current state)."""
    with _operations() as ops:
        filters = _make_filters(provider, reason, since, until)
        chosen = _selected(ops, ids, select_all, filters)
        bulk = filters if select_all else None
        if dry_run:
            report = ops.dry_run(chosen, actor=_actor_name(actor), filters=bulk)
            _print_predictions(report, as_json)
            missing = sorted(set(chosen) - {x["id"] for x in report["letters"]})
        else:
            done = ops.replay(chosen, actor=_actor_name(actor), filters=bulk)
            if as_json:
                _emit({"replayed": done})
            else:
                click.echo(f"replayed {len(done)} dead letters")
            missing = sorted(set(chosen) - set(done))
    if missing:
        _fail(f"not waiting (no such dead letter, or replayed already): {' '.join(map(str, missing))}")


def _print_predictions(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _emit(report)
        return
    for x in report["letters"]:
        change = f"{x['current_status'] or 'new'} -> {x['status']}" if x["predicted"] in ("applied", "conflict") else ""
        why = x["reason"] or ""
        click.echo(f"{x['id']:>8}  {x['predicted']:<12} {change:<28} {why}")
    total = ", ".join(f"{n} {what}" for what, n in sorted(report["summary"].items())) or "no dead letters"
    click.echo(f"dry run, nothing changed: {total}")


@dlq_group.command("purge")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "select_all", is_flag=True, help="every dead letter matching the filters")
@_filters
@_actor
@_reasons
def dlq_purge(
    ids: tuple[int, ...],
    select_all: bool,
    provider: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    actor: str | None,
) -> None:
    """Delete dead letters for good."""
    with _operations() as ops:
        filters = dataclasses.replace(_make_filters(provider, reason, since, until), include_replayed=True)
        chosen = _selected(ops, ids, select_all, filters)
        removed = ops.purge(chosen, actor=_actor_name(actor), filters=filters if select_all else None)
    click.echo(f"purged {removed} dead letters")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@_reasons
def stats(as_json: bool) -> None:
    """Queue depth, callbacks in flight, spooled and dead letters, the oldest waiting callback. While Redis is
    unreachable, queued and in_flight are null and the rest still answers."""
    with _operations() as ops:
        numbers = ops.queue()
        dead = ops.waiting_letters()
        spooled = ops.spooled()
    oldest = None if numbers is None else numbers.oldest_waiting_seconds
    document = {
        "queued": None if numbers is None else numbers.queued,
        "in_flight": None if numbers is None else numbers.in_flight,
        "spooled": spooled,
        "dead_letters": dead,
        "oldest_waiting_seconds": None if oldest is None else round(oldest, 3),
    }
    if as_json:
        _emit(document)
        return
    for key, value in document.items():
        click.echo(
            f"{key}: {'unknown (Redis unreachable)' if value is None and key != 'oldest_waiting_seconds' else value}"
        )


@main.group("audit")
def audit_group() -> None:
    """The audit trail: who replayed, purged or changed what, when, and how it ended."""


@audit_group.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_reasons
def audit_list(limit: int, as_json: bool) -> None:
    """Operator actions, newest first."""
    with _operations() as ops:
        entries = ops.audit(limit=limit)
    if as_json:
        _emit(entries)
        return
    for e in entries:
        what = e["target"] or (orjson.dumps(e["filters"]).decode() if e["filters"] else "")
        click.echo(f"{e['at'][:19]}  {e['actor']:<20} {e['action']:<22} {what[:50]:<50} {e['outcome']}")


main.add_command(endpoints)
main.add_command(deliveries)

if __name__ == "__main__":
    main()
