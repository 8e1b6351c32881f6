"""``payhook migrate``, ``payhook stats`` and ``payhook dev``: the schema, the queue's numbers, a whole stack
on a laptop."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from shared.db.migrate import upgrade
from shared.ops.cli.simulate import SIMULATE_PORT
from shared.ops.cli.support import emit, fail, operator_service, reports_failures
from shared.ops.render import table, terminal
from shared.settings import Settings


@click.command()
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def migrate(as_json: bool) -> None:
    """Bring the database schema to the latest version (idempotent)."""
    upgrade(Settings.from_env())
    if as_json:
        emit({"migrated": True})
    else:
        click.echo("schema is at the latest revision")


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="the web process's port")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=Path(".payhook"), show_default=True, help="data and logs"
)
@click.option("--postgres-port", type=click.IntRange(1, 65535), default=55432, show_default=True)
@click.option("--redis-port", type=click.IntRange(1, 65535), default=56379, show_default=True)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=9108, show_default=True, help="the worker's")
@click.option(
    "--simulate-port", type=click.IntRange(1, 65535), default=SIMULATE_PORT, show_default=True, help="the stand-in's"
)
@reports_failures
def dev(port: int, data_dir: Path, postgres_port: int, redis_port: int, metrics_port: int, simulate_port: int) -> None:
    """Run the whole pipeline here: embedded PostgreSQL and Redis (unless their URLs are set), web, worker, beat,
    and the providers' stand-in."""
    from shared.ops.dev.embedded import EmbeddedError  # noqa: PLC0415
    from shared.ops.dev.session import run  # noqa: PLC0415 - only this command needs it
    from shared.ops.dev.stack import Ports  # noqa: PLC0415

    try:
        code = run(data_dir, Ports(port, postgres_port, redis_port, metrics_port, simulate_port))
    except EmbeddedError as exc:
        fail(str(exc))
        return
    sys.exit(code)


@click.command()
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def stats(as_json: bool) -> None:
    """Queue depth, callbacks in flight, spooled and dead letters, the oldest waiting callback. While Redis is
    unreachable, queued and in_flight are null and the rest still answers."""
    with operator_service() as ops:
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
        emit(document)
        return
    unknown = "unknown (Redis unreachable)"
    rows = [
        ("queued", unknown if document["queued"] is None else document["queued"]),
        ("in flight", unknown if document["in_flight"] is None else document["in_flight"]),
        ("spooled (Redis could not take them)", spooled),
        ("dead letters waiting", dead),
        ("oldest waiting callback", _age(oldest) if numbers is not None else unknown),
    ]
    terminal().print(table("payhook", None, rows))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "nothing waiting"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
