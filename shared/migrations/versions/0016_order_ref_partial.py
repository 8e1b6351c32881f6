"""payments: the order-reference index covers rows that have one (``WHERE order_ref IS NOT NULL``).

With the account in both keys, ``(provider, account, order_ref)`` and the unique ``(provider, account,
payment_key)`` share their first two columns. On a table whose statistics lag behind its growth (a busy hour
after a quiet one, or any freshly filled table) the planner took the order-reference index to lock a batch's
payments by key, filtering thousands of rows per key: 0.56 s a batch at 33,000 payments instead of 4 ms, and the
drain fell to a few hundred callbacks a second. A lookup by order reference always names one (so it implies
``IS NOT NULL`` and keeps its index); the batch's lock by payment key can no longer pick it. Rebuilt
CONCURRENTLY under a new name, the old one dropped after: payments keep being written meanwhile.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_payments_account_order_ref_set "
            "ON payments (provider, account, order_ref) WHERE order_ref IS NOT NULL"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_payments_account_order_ref")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_payments_account_order_ref "
            "ON payments (provider, account, order_ref)"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_payments_account_order_ref_set")
