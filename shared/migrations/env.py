"""Alembic environment: the URL comes from payhook's settings, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from shared.db.models import Base

# Two `release` processes may start together; a transaction-level advisory lock makes them take turns.
_MIGRATION_LOCK = 7_316_042_001


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    engine.dispose()


run_migrations_online()
