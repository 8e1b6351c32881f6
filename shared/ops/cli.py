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
from shared.ops.render import console, styled, table, when
from shared.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def main() -> None:
    """payhook: payment-callback ingestion. Settings come from PAYHOOK_* environment variables."""


@main.command()
@click.option("--json", "as_json", is_flag=True)
@_reasons
def migrate(as_json: bool) -> None:
    """Bring the database schema to the latest version (idempotent)."""
    upgrade(Settings.from_env())
    if as_json:
        _emit({"migrated": True})
    else:
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
    out = console()
    out.print(
        f"[bold]{document['provider']} {document['order_ref'] or document['payment_key']}[/]: "
        f"{styled(document['status'])}  {document['amount'] or '-'} {document['currency'] or ''}"
        f"  (provider id {document['provider_payment_id'] or '-'}, updated {when(document['updated_at'])})"
    )
    rows = [(when(e["received_at"]), e["type"], styled(e["status"]), styled(e["outcome"])) for e in document["events"]]
    out.print(table("Events in arrival order", ("received", "event", "status", "outcome"), rows))


@payments.command("conflicts")
@click.option("--provider", help="only this provider's payments")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_reasons
def payments_conflicts(provider: str | None, limit: int, as_json: bool) -> None:
    """Payments whose final outcomes clashed (paid and cancelled, say): the cases a merchant must act on."""
    with _operations() as ops:
        found = ops.conflicts(provider=provider, limit=limit)
    if as_json:
        _emit(found)
        return
    rows = [
        (
            c["provider"],
            c["order_ref"] or c["payment_key"],
            styled(c["status"]),
            ", ".join(c["clashing_statuses"]),
            f"{c['amount'] or '-'} {c['currency'] or ''}",
            when(c["last_conflict_at"]),
        )
        for c in found
    ]
    caption = None if found else "no conflicts"
    columns = ("provider", "order", "kept", "clashed with", "amount", "last clash")
    console().print(table("Payments with conflicting outcomes", columns, rows, caption=caption))


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
    unknown = "unknown (Redis unreachable)"
    rows = [
        ("queued", unknown if document["queued"] is None else document["queued"]),
        ("in flight", unknown if document["in_flight"] is None else document["in_flight"]),
        ("spooled (Redis could not take them)", spooled),
        ("dead letters waiting", dead),
        ("oldest waiting callback", _age(oldest) if numbers is not None else unknown),
    ]
    console().print(table("payhook", ("", ""), rows))


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
    rows = [
        (
            when(e["at"]),
            e["actor"],
            e["action"] + (" (dry run)" if e["dry_run"] else ""),
            e["target"] or (orjson.dumps(e["filters"]).decode() if e["filters"] else ""),
            e["count"],
            e["outcome"],
        )
        for e in entries
    ]
    console().print(table("Audit trail", ("when", "actor", "action", "on", "count", "outcome"), rows))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "nothing waiting"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


main.add_command(dlq_group)
main.add_command(jobs_group)
main.add_command(endpoints)
main.add_command(deliveries)

if __name__ == "__main__":
    main()
