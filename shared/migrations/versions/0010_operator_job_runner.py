"""operator_jobs.runner: the runner holding a job; every step checks it still does

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("operator_jobs", sa.Column("runner", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("operator_jobs", "runner")
