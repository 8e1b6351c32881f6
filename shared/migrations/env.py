"""Alembic environment: the URL comes from payhook's settings, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from shared.db.models import Base

# Two `release` processes may start together; a session-level advisory lock makes them take turns. Session
# level, not transaction level: each migration runs in a transaction of its own, and one that builds an index
# CONCURRENTLY (no lock on writes while it builds) steps out of it into an autocommit block.
_MIGRATION_LOCK = 7_316_042_001


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                compare_type=True,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            connection.commit()
    engine.dispose()


run_migrations_online()
