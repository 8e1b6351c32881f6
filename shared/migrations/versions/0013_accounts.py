"""accounts: many merchant accounts per provider. Payments, their events, dead letters and outbox events carry
their account (today's rows are the account 'default'); endpoints may filter on one; a payment's identity and
an event's deduplication key include it.

Without downtime on a live database: the new columns have a constant default (no table rewrite), the new
unique indexes are built CONCURRENTLY beside the old ones (code of either version keeps working while they
build), and only then are the old ones dropped, each in a moment.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACCOUNTED = ("payments", "payment_events", "dead_letters", "outbox_events")


def upgrade() -> None:
    for table in _ACCOUNTED:
        op.add_column(table, sa.Column("account", sa.String(64), server_default="default", nullable=False))
    op.add_column("endpoints", sa.Column("account", sa.String(64)))
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("settings", sa.LargeBinary(), nullable=False),
        sa.Column("previous", sa.LargeBinary()),
        sa.Column("previous_until", sa.DateTime(timezone=True)),
        sa.Column("fingerprints", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("provider", "name", name="uq_accounts_provider_name"),
    )
    with op.get_context().autocommit_block():
        _build("uq_payments_account_payment_key", "payments", ["provider", "account", "payment_key"], unique=True)
        _build("ix_payments_account_order_ref", "payments", ["provider", "account", "order_ref"])
        _build(
            "uq_payment_events_account_first_of_key", "payment_events", ["provider", "account", "event_key"],
            unique=True, where="outcome <> 'duplicate'",
        )  # fmt: skip
    op.drop_constraint("uq_payments_provider_payment_key", "payments", type_="unique")
    op.drop_index("ix_payments_provider_order_ref", table_name="payments")
    op.drop_index("uq_payment_events_first_of_key", table_name="payment_events")
    op.execute("ALTER INDEX uq_payment_events_account_first_of_key RENAME TO uq_payment_events_first_of_key")


def _build(name: str, table: str, columns: list[str], *, unique: bool = False, where: str | None = None) -> None:
    op.create_index(
        name, table, columns, unique=unique, postgresql_concurrently=True, if_not_exists=True,
        postgresql_where=sa.text(where) if where else None,
    )  # fmt: skip


def downgrade() -> None:
    op.create_unique_constraint("uq_payments_provider_payment_key", "payments", ["provider", "payment_key"])
    op.create_index("ix_payments_provider_order_ref", "payments", ["provider", "order_ref"])
    op.drop_index("uq_payment_events_first_of_key", table_name="payment_events")
    op.create_index(
        "uq_payment_events_first_of_key", "payment_events", ["provider", "event_key"], unique=True,
        postgresql_where=sa.text("outcome <> 'duplicate'"),
    )  # fmt: skip
    op.drop_index("ix_payments_account_order_ref", table_name="payments")
    op.drop_index("uq_payments_account_payment_key", table_name="payments")
    op.drop_table("accounts")
    op.drop_column("endpoints", "account")
    for table in _ACCOUNTED:
        op.drop_column(table, "account")
