"""dead letters: an index for time-range pages (created_at, id), and statistics on provider and reason
together, so that the planner knows which combinations are rare (and takes their index)

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_dead_letters_waiting_created",
        "dead_letters",
        ["created_at", "id"],
        postgresql_where=sa.text("replayed_at IS NULL"),
    )
    op.execute(
        "CREATE STATISTICS IF NOT EXISTS st_dead_letters_provider_reason (mcv, dependencies) "
        "ON provider, reason FROM dead_letters"
    )
    op.execute("ANALYZE dead_letters")


def downgrade() -> None:
    op.execute("DROP STATISTICS IF EXISTS st_dead_letters_provider_reason")
    op.drop_index("ix_dead_letters_waiting_created", table_name="dead_letters")
