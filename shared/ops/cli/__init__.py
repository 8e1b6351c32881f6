"""The ``payhook`` command: one module per command group (``dlq``, ``jobs``, ``payments``, ``endpoints``,
``deliveries``, ``audit``, ``reconcile``), ``system`` for ``migrate``, ``stats`` and ``dev``, and ``simulate``."""

from __future__ import annotations

import click

from shared.ops.cli.accounts import accounts
from shared.ops.cli.audit import audit_group
from shared.ops.cli.deliveries import deliveries
from shared.ops.cli.dlq import dlq_group
from shared.ops.cli.endpoints import endpoints
from shared.ops.cli.jobs import jobs_group
from shared.ops.cli.payments import payments
from shared.ops.cli.reconcile import payments_expect, payments_unresolved, reconcile
from shared.ops.cli.simulate import simulate
from shared.ops.cli.support import OneLineErrors, use_dev_settings
from shared.ops.cli.system import dev, migrate, stats

__all__ = ["main"]


# They start a stack of their own, or serve beside one: never another's settings.
_OWN_SETTINGS = ("dev", "simulate")


@click.group(cls=OneLineErrors)
@click.pass_context
def main(ctx: click.Context) -> None:
    """payhook: payment-callback ingestion. Settings come from PAYHOOK_* environment variables (beside a
    payhook dev, from its .payhook/env when they name no database or Redis)."""
    if ctx.invoked_subcommand not in _OWN_SETTINGS:
        use_dev_settings()


for command in (
    migrate,
    dev,
    simulate,
    payments,
    stats,
    audit_group,
    dlq_group,
    jobs_group,
    endpoints,
    deliveries,
    reconcile,
    accounts,
):
    main.add_command(command)
# Reconciliation's payment commands live with it (``cli/reconcile.py``), in the payments group.
payments.add_command(payments_expect)
payments.add_command(payments_unresolved)
