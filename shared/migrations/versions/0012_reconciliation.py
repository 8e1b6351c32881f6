"""reconciliation: events carry their source, payments their next query; every query is kept; a callback may
wait for the provider's confirmation (outcome 'unconfirmed')

Built for a live table: new columns without a default that rewrites the table, constraints added NOT VALID
and validated without blocking writes, indexes built CONCURRENTLY.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = "'applied', 'duplicate', 'stale', 'conflict', 'unconfirmed'"


def upgrade() -> None:
    op.add_column("payment_events", sa.Column("source", sa.String(16), server_default="callback", nullable=False))
    op.drop_constraint("event_outcome", "payment_events", type_="check")
    op.execute(f"ALTER TABLE payment_events ADD CONSTRAINT event_outcome CHECK (outcome IN ({_OUTCOMES})) NOT VALID")
    op.execute("ALTER TABLE payment_events VALIDATE CONSTRAINT event_outcome")
    op.add_column("payments", sa.Column("next_check_at", sa.DateTime(timezone=True)))
    op.add_column("payments", sa.Column("check_step", sa.SmallInteger(), server_default="0", nullable=False))
    op.add_column("payments", sa.Column("check_reason", sa.String(16)))
    op.add_column("payments", sa.Column("unresolved_at", sa.DateTime(timezone=True)))
    op.add_column("payments", sa.Column("expected_at", sa.DateTime(timezone=True)))
    op.create_table(
        "payment_checks",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("payment_id", sa.BigInteger(), sa.ForeignKey("payments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("provider_status", sa.Text(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("status_before", sa.String(24)),
        sa.Column("status_after", sa.String(24)),
        sa.Column("actor", sa.String(200)),
        sa.CheckConstraint(
            "result IN ('unchanged', 'corrected', 'confirmed', 'not_found', 'error')", name="ck_payment_checks_result"
        ),
    )
    op.create_index("ix_payment_checks_payment", "payment_checks", ["payment_id", "id"])
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_payments_next_check",
            "payments",
            ["provider", "next_check_at"],
            postgresql_where=sa.text("next_check_at IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.create_index(
            "ix_payments_unresolved",
            "payments",
            ["provider", "unresolved_at", "id"],
            postgresql_where=sa.text("unresolved_at IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )
    # Payments waiting today are asked about a minute from now (the default schedule's first delay).
    op.execute(
        "UPDATE payments SET next_check_at = now() + interval '60 seconds', check_reason = 'schedule'"
        " WHERE status IN ('pending', 'processing') AND next_check_at IS NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_payments_unresolved", table_name="payments")
    op.drop_index("ix_payments_next_check", table_name="payments")
    op.drop_table("payment_checks")
    for column in ("expected_at", "unresolved_at", "check_reason", "check_step", "next_check_at"):
        op.drop_column("payments", column)
    op.execute("DELETE FROM payment_events WHERE outcome = 'unconfirmed'")
    op.drop_constraint("event_outcome", "payment_events", type_="check")
    op.execute(
        "ALTER TABLE payment_events ADD CONSTRAINT event_outcome"
        " CHECK (outcome IN ('applied', 'duplicate', 'stale', 'conflict'))"
    )
    op.drop_column("payment_events", "source")
