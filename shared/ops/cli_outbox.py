"""``payhook endpoints ...`` and ``payhook deliveries ...``: the outbox's consumers and what was sent to them."""

from __future__ import annotations

from typing import Any

import click

from shared.db.outbox import DELIVERY_STATUSES, DeliveryFilters
from shared.ops.cli_support import _actor, _actor_name, _emit, _fail, _operations, _reasons
from shared.ops.render import ago, console, styled, table, when


def _endpoint_row(e: dict[str, Any]) -> tuple[Any, ...]:
    target = e["url"] if e["kind"] == "webhook" else f"handler:{e['handler']}"
    state = "[green]enabled[/]" if e["enabled"] else f"[red]disabled[/] ({e['disabled_reason']})"
    events = ", ".join(e["events"]) if e["events"] else "all events"
    return (e["id"], target, events, e["provider"] or "all", state, ago(e["created_at"]))


@click.group()
def endpoints() -> None:
    """The merchant's HTTP endpoints (and installed Python handlers) that payment events go to."""


@endpoints.command("add")
@click.argument("url")
@click.option("--events", help="event types, comma-separated (payment.paid,payment.refunded,...); default all")
@click.option("--provider", help="only this provider's payments; default all")
@click.option("--json", "as_json", is_flag=True)
@_actor
@_reasons
def endpoints_add(url: str, events: str | None, provider: str | None, as_json: bool, actor: str | None) -> None:
    """Add an endpoint; prints its id and its signing secret (shown only now and at rotation)."""
    chosen = [part.strip() for part in events.split(",") if part.strip()] if events else None
    with _operations() as ops:
        made = ops.add_endpoint(url, chosen, provider, actor=_actor_name(actor))
    if as_json:
        _emit(made)
        return
    click.echo(f"id: {made['id']}")
    click.echo(f"secret: {made['secret']}")


@endpoints.command("list")
@click.option("--json", "as_json", is_flag=True)
@_reasons
def endpoints_list(as_json: bool) -> None:
    """Every endpoint and handler, with its filters and state."""
    with _operations() as ops:
        found = ops.endpoints()
    if as_json:
        _emit(found)
        return
    columns = ("id", "endpoint", "events", "provider", "state", "added")
    console().print(table("Endpoints", columns, [_endpoint_row(e) for e in found], caption=None if found else "none"))


def _change(endpoint_id: int, changes: dict[str, Any], done: str, actor: str | None) -> None:
    with _operations() as ops:
        found = ops.change_endpoint(endpoint_id, changes, actor=_actor_name(actor))
    if found is None:
        _fail(f"no endpoint {endpoint_id}")
    console().print(f"endpoint {endpoint_id} {done}")


@endpoints.command("disable")
@click.argument("endpoint_id", type=int)
@_actor
@_reasons
def endpoints_disable(endpoint_id: int, actor: str | None) -> None:
    """Stop sending to an endpoint; its deliveries wait until it is enabled."""
    _change(endpoint_id, {"enabled": False}, "disabled", actor)


@endpoints.command("enable")
@click.argument("endpoint_id", type=int)
@_actor
@_reasons
def endpoints_enable(endpoint_id: int, actor: str | None) -> None:
    """Send to an endpoint again, starting with what waited."""
    _change(endpoint_id, {"enabled": True}, "enabled", actor)


@endpoints.command("remove")
@click.argument("endpoint_id", type=int)
@_actor
@_reasons
def endpoints_remove(endpoint_id: int, actor: str | None) -> None:
    """Remove an endpoint with its deliveries."""
    with _operations() as ops:
        removed = ops.remove_endpoint(endpoint_id, actor=_actor_name(actor))
    if not removed:
        _fail(f"no endpoint {endpoint_id}")
    click.echo(f"endpoint {endpoint_id} removed")


@endpoints.command("rotate-secret")
@click.argument("endpoint_id", type=int)
@click.option(
    "--keep-previous",
    type=click.FloatRange(0, 30 * 86400),
    default=86400,
    show_default=True,
    help="seconds the old secret keeps signing too",
)
@click.option("--json", "as_json", is_flag=True)
@_actor
@_reasons
def endpoints_rotate(endpoint_id: int, keep_previous: float, as_json: bool, actor: str | None) -> None:
    """A new signing secret; the old one signs too for a while (both signatures are sent)."""
    with _operations() as ops:
        rotated = ops.rotate_secret(endpoint_id, keep_previous, actor=_actor_name(actor))
    if rotated is None:
        _fail(f"no endpoint {endpoint_id}")
        return
    if as_json:
        _emit(rotated)
        return
    click.echo(f"secret: {rotated['secret']}")
    click.echo(f"previous secret signs until: {rotated['previous_secret_valid_until']}")


@click.group()
def deliveries() -> None:
    """What was sent to each endpoint: status, attempts, answers; failed ones are the outbound dead letters."""


@deliveries.command("list")
@click.option("--endpoint", "endpoint_id", type=int, help="only this endpoint's")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), help="only deliveries in this state")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_reasons
def deliveries_list(endpoint_id: int | None, status: str | None, limit: int, as_json: bool) -> None:
    """Deliveries, newest first."""
    with _operations() as ops:
        found = ops.deliveries(DeliveryFilters(endpoint_id, status), limit=limit)
    if as_json:
        _emit(found)
        return
    rows = [
        (
            d["id"],
            d["endpoint_id"],
            d["type"],
            styled(d["status"]),
            d["attempts"],
            d["last_status_code"] or (d["last_error"] or "").split("\n")[0][:60],
            ago(d["next_attempt_at"]) if d["next_attempt_at"] else ago(d["delivered_at"] or d["last_attempt_at"]),
        )
        for d in found
    ]
    columns = ("id", "endpoint", "event", "status", "attempts", "last answer", "next / last")
    console().print(table("Deliveries, newest first", columns, rows, caption=None if found else "none"))


@deliveries.command("show")
@click.argument("delivery_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@_reasons
def deliveries_show(delivery_id: int, as_json: bool) -> None:
    """One delivery: its event and every attempt (time, duration, status code, the first KB of the answer)."""
    with _operations() as ops:
        found = ops.delivery(delivery_id)
    if found is None:
        _fail(f"no delivery {delivery_id}")
        return
    if as_json:
        _emit(found)
        return
    out = console()
    out.print(
        f"[bold]delivery {found['id']}[/]: {found['type']} {found['event_id']} to endpoint {found['endpoint_id']}, "
        f"{styled(found['status'])} after {found['attempts']} attempts"
        + (f", next {when(found['next_attempt_at'])}" if found["next_attempt_at"] else "")
    )
    rows = [
        (
            when(a["attempted_at"]),
            f"{a['duration_ms']:.1f} ms",
            a["status_code"] if a["status_code"] is not None else "-",
            (a["response"] or "")[:80] if a["error"] is None else a["error"].splitlines()[0],
        )
        for a in found["attempt_log"]
    ]
    out.print(table("Attempts", ("when", "took", "status", "answer or error"), rows))


@deliveries.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--endpoint", "endpoint_id", type=int, help="every delivery of this endpoint (with --status)")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), help="every delivery in this state")
@_actor
@_reasons
def deliveries_retry(ids: tuple[int, ...], endpoint_id: int | None, status: str | None, actor: str | None) -> None:
    """Send deliveries again now, with a fresh retry schedule."""
    if ids and (endpoint_id is not None or status is not None):
        _fail("give delivery ids, or --endpoint/--status, not both")
    if not ids and endpoint_id is None and status is None:
        _fail("give delivery ids, or --endpoint ID --status failed")
    with _operations() as ops:
        # By endpoint alone: its failed deliveries (re-sending what was delivered takes --status delivered).
        filters = None if ids else DeliveryFilters(endpoint_id, status or "failed")
        chosen = list(ids) if filters is None else ops.matching_deliveries(filters)
        done = ops.retry_deliveries(chosen, actor=_actor_name(actor), filters=filters)
    click.echo(f"retried {len(done)} deliveries")
    missing = sorted(set(chosen) - set(done))
    if missing:
        _fail(f"not retried (no such delivery, or being sent right now): {' '.join(map(str, missing))}")
