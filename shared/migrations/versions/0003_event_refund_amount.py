"""payment_events.refund_amount: a refund event's amount apart from the payment's own

Revision ID: 0003
Revises: 0002

Events used to hold one amount, a refund's on refund events. Rows of refund events written before move it
to the new column (Pivot's refunds, the only refund events then: their types start with ``REFUND.``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payment_events", sa.Column("refund_amount", sa.Numeric(), nullable=True))
    op.execute(
        "UPDATE payment_events SET refund_amount = amount, amount = NULL "
        "WHERE provider = 'pivot' AND event_type LIKE 'REFUND.%'"
    )


def downgrade() -> None:
    op.execute("UPDATE payment_events SET amount = refund_amount WHERE refund_amount IS NOT NULL")
    op.drop_column("payment_events", "refund_amount")
