"""dead letters: event type and order reference read from the body (for filters), indexes for cursor pages of
waiting letters

Letters recorded before this revision keep both empty.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WAITING = sa.text("replayed_at IS NULL")


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("event_type", sa.String(length=64), nullable=True))
    op.add_column("dead_letters", sa.Column("order_ref", sa.String(length=255), nullable=True))
    op.create_index("ix_dead_letters_waiting", "dead_letters", ["id"], postgresql_where=_WAITING)
    op.create_index("ix_dead_letters_waiting_reason", "dead_letters", ["reason", "id"], postgresql_where=_WAITING)
    op.create_index(
        "ix_dead_letters_waiting_provider", "dead_letters", ["provider", "reason", "id"], postgresql_where=_WAITING
    )
    op.create_index(
        "ix_dead_letters_waiting_event_type", "dead_letters", ["event_type", "id"], postgresql_where=_WAITING
    )
    op.create_index("ix_dead_letters_order_ref", "dead_letters", ["order_ref"])


def downgrade() -> None:
    for name in (
        "ix_dead_letters_order_ref",
        "ix_dead_letters_waiting_event_type",
        "ix_dead_letters_waiting_provider",
        "ix_dead_letters_waiting_reason",
        "ix_dead_letters_waiting",
    ):
        op.drop_index(name, table_name="dead_letters")
    op.drop_column("dead_letters", "order_ref")
    op.drop_column("dead_letters", "event_type")
