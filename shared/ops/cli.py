"""The ``payhook`` command: migrations, payment lookups, the dead-letter queue and queue statistics."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from shared.db.migrate import upgrade
from shared.ops.cli_dlq import dlq_group, jobs_group
from shared.ops.cli_outbox import deliveries, endpoints
from shared.ops.cli_support import _emit, _fail, _operations, _reasons
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


main.add_command(dlq_group)
main.add_command(jobs_group)
main.add_command(endpoints)
main.add_command(deliveries)

if __name__ == "__main__":
    main()
