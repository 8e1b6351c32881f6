"""``payhook deliveries ...``: what was sent to each endpoint, and sending it again."""

from __future__ import annotations

import click

from shared.canonical import DeliveryStatus
from shared.db.outbox import DeliveryFilters
from shared.ops.cli.support import actor_name, actor_option, emit, fail, operator_service, reports_failures
from shared.ops.render import ago, line, plural, shorten, styled, table, terminal, when

# The choices of --status: the words a delivery status is stored as.
STATUSES = [str(s) for s in DeliveryStatus]


def _status(ctx: click.Context, param: click.Parameter, value: str | None) -> DeliveryStatus | None:
    return None if value is None else DeliveryStatus(value)


def _attempts(total: int, since_retry: int, *, short: bool = False) -> str:
    """Attempts over the delivery's whole life; a retry by an operator starts the schedule (and the count the
    schedule runs on) again, which is worth saying when it happened."""
    said = str(total) if short else plural(total, "attempt")
    return said if since_retry == total else f"{said} ({since_retry} since retry)"


@click.group()
def deliveries() -> None:
    """What was sent to each endpoint: status, attempts, answers; failed ones are the outbound dead letters."""


@deliveries.command("list")
@click.option("--endpoint", "endpoint_id", type=int, help="only this endpoint's")
@click.option("--status", type=click.Choice(STATUSES), callback=_status, help="only deliveries in this state")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def deliveries_list(endpoint_id: int | None, status: DeliveryStatus | None, limit: int, as_json: bool) -> None:
    """Deliveries, newest first."""
    with operator_service() as ops:
        found = ops.deliveries(DeliveryFilters(endpoint_id, status), limit=limit)
    if as_json:
        emit(found)
        return
    rows = [
        (
            d["id"],
            d["endpoint_id"],
            d["type"],
            styled(d["status"]),
            _attempts(d["attempts_total"], d["attempts"], short=True),
            d["last_status_code"] or shorten((d["last_error"] or "").split("\n")[0], 60),
            ago(d["next_attempt_at"]) if d["next_attempt_at"] else ago(d["delivered_at"] or d["last_attempt_at"]),
        )
        for d in found
    ]
    columns = ("id", "endpoint", "event", "status", "attempts", "last answer", "next / last")
    terminal().print(table("Deliveries, newest first", columns, rows, caption=None if found else "none"))


@deliveries.command("show")
@click.argument("delivery_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def deliveries_show(delivery_id: int, as_json: bool) -> None:
    """One delivery: its event and every attempt (time, duration, status code, the first KB of the answer)."""
    with operator_service() as ops:
        found = ops.delivery(delivery_id)
    if found is None:
        fail(f"no delivery {delivery_id}")
        return
    if as_json:
        emit(found)
        return
    out = terminal()
    out.print(
        line(
            (f"delivery {found['id']}", "bold"),
            f": {found['type']} {found['event_id']} to endpoint {found['endpoint_id']}, ",
            styled(found["status"]),
            f" after {_attempts(found['attempts_total'], found['attempts'])}",
            f", next {when(found['next_attempt_at'])}" if found["next_attempt_at"] else "",
        )
    )
    rows = [
        (
            when(a["attempted_at"]),
            f"{a['duration_ms']:.1f} ms",
            a["status_code"] if a["status_code"] is not None else "-",
            shorten(a["response"], 80) if a["error"] is None else shorten((a["error"].splitlines() or [""])[0], 200),
        )
        for a in found["attempt_log"]
    ]
    out.print(table("Attempts", ("when", "took", "status", "answer or error"), rows))


@deliveries.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--endpoint", "endpoint_id", type=int, help="every delivery of this endpoint (with --status)")
@click.option("--status", type=click.Choice(STATUSES), callback=_status, help="every delivery in this state")
@actor_option
@reports_failures
def deliveries_retry(
    ids: tuple[int, ...], endpoint_id: int | None, status: DeliveryStatus | None, actor: str | None
) -> None:
    """Send deliveries again now, with a fresh retry schedule."""
    if ids and (endpoint_id is not None or status is not None):
        fail("give delivery ids, or --endpoint/--status, not both")
    if not ids and endpoint_id is None and status is None:
        fail("give delivery ids, or --endpoint ID --status failed")
    with operator_service() as ops:
        # By endpoint alone: its failed deliveries (re-sending what was delivered takes --status delivered).
        filters = None if ids else DeliveryFilters(endpoint_id, status or DeliveryStatus.FAILED)
        chosen = list(ids) if filters is None else ops.matching_deliveries(filters)
        done = ops.retry_deliveries(chosen, actor=actor_name(actor), filters=filters)
    click.echo(f"retried {plural(len(done), 'delivery', 'deliveries')}")
    missing = sorted(set(chosen) - set(done))
    if missing:
        fail(f"not retried (no such delivery, or being sent right now): {' '.join(map(str, missing))}")
