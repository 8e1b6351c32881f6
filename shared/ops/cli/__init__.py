"""The ``payhook`` command: one module per command group (``dlq``, ``jobs``, ``payments``, ``endpoints``,
``deliveries``, ``audit``) and ``system`` for ``migrate``, ``stats`` and ``dev``."""

from __future__ import annotations

import click

from shared.ops.cli.audit import audit_group
from shared.ops.cli.deliveries import deliveries
from shared.ops.cli.dlq import dlq_group
from shared.ops.cli.endpoints import endpoints
from shared.ops.cli.jobs import jobs_group
from shared.ops.cli.payments import payments
from shared.ops.cli.system import dev, migrate, stats

__all__ = ["main"]


@click.group()
def main() -> None:
    """payhook: payment-callback ingestion. Settings come from PAYHOOK_* environment variables."""


for command in (migrate, dev, payments, stats, audit_group, dlq_group, jobs_group, endpoints, deliveries):
    main.add_command(command)
