"""``payhook payments ...``: a payment and its history; payments whose outcomes clashed."""

from __future__ import annotations

import click

from shared.ops.cli.support import PROVIDER, emit, fail, operator_service, reports_failures
from shared.ops.render import line, styled, table, terminal, when


@click.group()
def payments() -> None:
    """Look up payments."""


@payments.command("show")
@click.argument("provider", type=PROVIDER)
@click.argument("order_ref")
@click.option("--account", default="default", show_default=True, help="the merchant account of the payment")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
@reports_failures
def payments_show(provider: str, order_ref: str, account: str, as_json: bool) -> None:
    """A payment with its event history in arrival order."""
    with operator_service() as ops:
        document = ops.payment(provider, order_ref, account)
        elsewhere = [] if document is not None else ops.payment_accounts(provider, order_ref)
    if document is None:
        hint = f" (it is in account {', '.join(elsewhere)}: add --account NAME)" if elsewhere else ""
        fail(f"no {provider} payment with order reference {order_ref!r} in account {account!r}{hint}")
        return
    if as_json:
        emit(document)
        return
    out = terminal()
    out.print(
        line(
            (f"{document['provider']} {document['order_ref'] or document['payment_key']}", "bold"),
            f" (account {document['account']})" if document["account"] != "default" else "",
            ": ",
            styled(document["status"]),
            f"  {document['amount'] or '-'} {document['currency'] or ''}",
            f"  (provider id {document['provider_payment_id'] or '-'}, updated {when(document['updated_at'])})",
        )
    )
    rows = [(when(e["received_at"]), e["type"], styled(e["status"]), styled(e["outcome"])) for e in document["events"]]
    out.print(table("Events in arrival order", ("received", "event", "status", "outcome"), rows))


@payments.command("conflicts")
@click.option("--provider", type=PROVIDER, help="only this provider's payments")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def payments_conflicts(provider: str | None, limit: int, as_json: bool) -> None:
    """Payments whose final outcomes clashed (paid and cancelled, say): the cases a merchant must act on."""
    with operator_service() as ops:
        found = ops.conflicts(provider=provider, limit=limit)
    if as_json:
        emit(found)
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
    terminal().print(table("Payments with conflicting outcomes", columns, rows, caption=caption))
