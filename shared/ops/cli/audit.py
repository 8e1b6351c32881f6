"""``payhook audit ...``: the audit trail."""

from __future__ import annotations

import click
import orjson

from shared.ops.cli.support import emit, operator_service, reports_failures
from shared.ops.render import table, terminal, when


@click.group("audit")
def audit_group() -> None:
    """The audit trail: who replayed, purged or changed what, when, and how it ended."""


@audit_group.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def audit_list(limit: int, as_json: bool) -> None:
    """Operator actions, newest first."""
    with operator_service() as ops:
        entries = ops.audit(limit=limit)
    if as_json:
        emit(entries)
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
    terminal().print(table("Audit trail", ("when", "actor", "action", "on", "count", "outcome"), rows))
