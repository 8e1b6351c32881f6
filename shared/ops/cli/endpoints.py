"""``payhook endpoints ...``: the outbox's consumers (HTTP endpoints and installed Python handlers)."""

from __future__ import annotations

from typing import Any

import click

from shared.ops.cli.support import PROVIDER, actor_name, actor_option, emit, fail, operator_service, reports_failures
from shared.ops.render import ago, line, table, terminal


def _endpoint_row(e: dict[str, Any]) -> tuple[Any, ...]:
    target = e["url"] if e["kind"] == "webhook" else f"handler:{e['handler']}"
    state = line(("enabled", "green")) if e["enabled"] else line(("disabled", "red"), f" ({e['disabled_reason']})")
    events = ", ".join(e["events"]) if e["events"] else "all events"
    return (e["id"], target, events, e["provider"] or "all", e["account"] or "all", state, ago(e["created_at"]))


@click.group()
def endpoints() -> None:
    """The merchant's HTTP endpoints (and installed Python handlers) that payment events go to."""


@endpoints.command("add")
@click.argument("url")
@click.option("--events", help="event types, comma-separated (payment.paid,payment.refunded,...); default all")
@click.option("--provider", type=PROVIDER, help="only this provider's payments; default all")
@click.option("--account", help="only this merchant account's payments (with --provider: that provider's); default all")
@click.option("--json", "as_json", is_flag=True)
@actor_option
@reports_failures
def endpoints_add(
    url: str, events: str | None, provider: str | None, account: str | None, as_json: bool, actor: str | None
) -> None:
    """Add an endpoint; prints its id and its signing secret (shown only now and at rotation)."""
    chosen = [part.strip() for part in events.split(",") if part.strip()] if events else None
    with operator_service() as ops:
        made = ops.add_endpoint(url, chosen, provider, actor=actor_name(actor), account=account)
    if as_json:
        emit(made)
        return
    click.echo(f"id: {made['id']}")
    click.echo(f"secret: {made['secret']}")


@endpoints.command("list")
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def endpoints_list(as_json: bool) -> None:
    """Every endpoint and handler, with its filters and state."""
    with operator_service() as ops:
        found = ops.endpoints()
    if as_json:
        emit(found)
        return
    columns = ("id", "endpoint", "events", "provider", "account", "state", "added")
    terminal().print(table("Endpoints", columns, [_endpoint_row(e) for e in found], caption=None if found else "none"))


def _change(endpoint_id: int, changes: dict[str, Any], done: str, actor: str | None) -> None:
    with operator_service() as ops:
        found = ops.change_endpoint(endpoint_id, changes, actor=actor_name(actor))
    if found is None:
        fail(f"no endpoint {endpoint_id}")
    click.echo(f"endpoint {endpoint_id} {done}")


@endpoints.command("disable")
@click.argument("endpoint_id", type=int)
@actor_option
@reports_failures
def endpoints_disable(endpoint_id: int, actor: str | None) -> None:
    """Stop sending to an endpoint; its deliveries wait until it is enabled."""
    _change(endpoint_id, {"enabled": False}, "disabled", actor)


@endpoints.command("enable")
@click.argument("endpoint_id", type=int)
@actor_option
@reports_failures
def endpoints_enable(endpoint_id: int, actor: str | None) -> None:
    """Send to an endpoint again, starting with what waited."""
    _change(endpoint_id, {"enabled": True}, "enabled", actor)


@endpoints.command("remove")
@click.argument("endpoint_id", type=int)
@actor_option
@reports_failures
def endpoints_remove(endpoint_id: int, actor: str | None) -> None:
    """Remove an endpoint with its deliveries."""
    with operator_service() as ops:
        removed = ops.remove_endpoint(endpoint_id, actor=actor_name(actor))
    if not removed:
        fail(f"no endpoint {endpoint_id}")
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
@actor_option
@reports_failures
def endpoints_rotate(endpoint_id: int, keep_previous: float, as_json: bool, actor: str | None) -> None:
    """A new signing secret; the old one signs too for a while (both signatures are sent)."""
    with operator_service() as ops:
        rotated = ops.rotate_secret(endpoint_id, keep_previous, actor=actor_name(actor))
    if rotated is None:
        fail(f"no endpoint {endpoint_id}")
        return
    if as_json:
        emit(rotated)
        return
    click.echo(f"secret: {rotated['secret']}")
    click.echo(f"previous secret signs until: {rotated['previous_secret_valid_until']}")
