"""``payhook reconcile ...`` and the payments it concerns (``payments expect``, ``payments unresolved``): asking
the providers' status APIs by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from shared.canonical import Status
from shared.ops.cli.jobs import follow_with_progress
from shared.ops.cli.support import (
    PROVIDER,
    IsoTime,
    actor_name,
    actor_option,
    emit,
    fail,
    operator_service,
    reports_failures,
)
from shared.ops.render import clean, plural, styled, table, terminal, when


@click.command("reconcile")
@click.argument("provider", required=False, type=PROVIDER)
@click.argument("order_ref", required=False)
@click.option("--all", "select_all", is_flag=True, help="every payment the filters select (queried at the rate)")
@click.option("--provider", "only_provider", type=PROVIDER, help="with --all: this provider's payments")
@click.option("--status", type=click.Choice([str(s) for s in Status]), help="with --all: payments in this status")
@click.option("--since", type=IsoTime(), help="with --all: payments created at or after (ISO 8601)")
@click.option("--until", type=IsoTime(), help="with --all: payments created before (ISO 8601)")
@click.option("--account", default="default", show_default=True, help="the merchant account of the payment")
@click.option("--background", is_flag=True, help="with --all: leave the job to the workers; print its id")
@click.option("--dry-run", is_flag=True, help="ask, show what the answer would change, change nothing")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
@actor_option
@reports_failures
def reconcile(
    provider: str | None, order_ref: str | None, select_all: bool, only_provider: str | None, status: str | None,
    since: datetime | None, until: datetime | None, account: str, background: bool, dry_run: bool, as_json: bool,
    actor: str | None,
) -> None:  # fmt: skip
    """Ask a provider about a payment now, beside what payhook has, and apply its answer (or, with --all, put
    every payment the filters select in line for the reconciler)."""
    if select_all:
        if provider or order_ref or dry_run:
            fail("--all takes filters (--provider, --status, --since, --until), not a payment or --dry-run")
        with operator_service() as ops:
            job, created = ops.reconcile_all(
                provider=only_provider, status=status, since=since, until=until, actor=actor_name(actor),
                background=background,
            )  # fmt: skip
            final = job if background else follow_with_progress(ops, job, as_json, run=created)
        if as_json:
            emit(final)
        else:
            click.echo(f"job {final['id']} {final['status']}: {plural(final['changed'], 'payment')} of "
                       f"{final['total']} put in line for a query (at each provider's rate)")  # fmt: skip
        return
    if not provider or not order_ref:
        fail("give PROVIDER ORDER_REF, or --all with filters")
        return
    with operator_service() as ops:
        answer = ops.reconcile(provider, order_ref, actor=actor_name(actor), dry_run=dry_run, account=account)
    if as_json:
        emit(answer)
        return
    _print_answer(answer)


def _print_answer(answer: dict[str, Any]) -> None:
    verb = "would be" if answer["dry_run"] else "is"
    rows = [
        ("provider says", answer["provider_status"]),
        ("payhook had", styled(answer["previous_status"])),
        (f"payhook {verb}", styled(answer["status"])),
        ("result", styled(answer["result"])),
    ]
    title = f"{answer['provider']} {answer['order_ref']}" + (" (dry run: nothing changed)" if answer["dry_run"] else "")
    terminal().print(table(title, None, rows))


@click.command("expect")
@click.argument("provider", type=PROVIDER)
@click.argument("order_ref")
@click.option("--account", default="default", show_default=True, help="the merchant account of the payment")
@click.option("--payment-id", help="the provider's id of the payment (providers that are asked by it need it)")
@click.option("--amount", help="the amount, a decimal number (with --currency)")
@click.option("--currency", help="ISO 4217 code, e.g. IDR (with --amount)")
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
@actor_option
@reports_failures
def payments_expect(
    provider: str, order_ref: str, account: str, payment_id: str | None, amount: str | None, currency: str | None,
    as_json: bool, actor: str | None,
) -> None:  # fmt: skip
    """Register a payment the merchant created: pending, asked about on the schedule, so that one whose every
    callback is lost is still found. Expecting a payment that exists changes nothing."""
    with operator_service() as ops:
        document, created = ops.expect(
            provider, order_ref, actor=actor_name(actor), payment_id=payment_id, amount=amount, currency=currency,
            account=account,
        )  # fmt: skip
    if as_json:
        emit(document)
        return
    said = "expected" if created else "already known, nothing changed"
    click.echo(clean(f"{provider} {order_ref}: {said} (status {document['status']})"))


@click.command("unresolved")
@click.option("--provider", type=PROVIDER, help="only this provider's payments")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
@reports_failures
def payments_unresolved(provider: str | None, limit: int, as_json: bool) -> None:
    """Payments still not final when the reconcile schedule was spent: a person must look."""
    with operator_service() as ops:
        found = ops.unresolved(provider=provider, limit=limit)
    if as_json:
        emit(found)
        return
    rows = [
        (
            p["provider"], p["order_ref"] or p["payment_key"], styled(p["status"]), when(p["unresolved_at"]),
            (p["last_check"] or {}).get("provider_status", "-"),
        )
        for p in found
    ]  # fmt: skip
    caption = None if found else "nothing unresolved"
    columns = ("provider", "order", "status", "unresolved since", "provider said last")
    terminal().print(table("Unresolved payments", columns, rows, caption=caption))
