"""minute_figures: the console's Overview charts, kept by payhook itself (no Prometheus needed). One row per
minute, provider, kind (an outcome, a dead letter, a backlog sample) and shard (the drain slot that wrote it, so
that concurrent drains never wait on one another's row); pruned after three days.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "minute_figures",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "provider", "kind", "shard", name="pk_minute_figures"),
    )


def downgrade() -> None:
    op.drop_table("minute_figures")
