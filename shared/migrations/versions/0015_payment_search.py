"""payments: indexes for the console's search at a million payments, newest first in keyset pages on
(created_at, id): status (``status, created_at, id``), creation time (``created_at, id``) and an order-reference prefix (``varchar_pattern_ops``:
a ``LIKE 'prefix%'`` uses it whatever the database's collation; the existing index on order_ref serves only
equality unless the collation is C). Built CONCURRENTLY: payments keep being written while they build.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_payments_status": "(status, created_at, id)",
    "ix_payments_created": "(created_at, id)",
    "ix_payments_order_ref_prefix": "(order_ref varchar_pattern_ops)",
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, columns in _INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON payments {columns}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in _INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
