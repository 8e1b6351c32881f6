"""The migrations and the models describe one schema: what `payhook migrate` builds is what the code maps; an
upgrade across accounts keeps every row."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError

from shared.db.migrate import alembic_config
from shared.db.models import Base
from shared.settings import Settings
from tests.support.before_accounts import ACCOUNTED, BEFORE, fill
from tests.support.pipeline import drop_database

pytestmark = pytest.mark.integration


def test_the_migrated_schema_matches_the_models(database: str) -> None:
    engine = create_engine(database)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert differences == []


def test_upgrading_across_accounts_keeps_every_row_as_the_account_default(database: str) -> None:
    """Migration 0013 on a database filled before accounts (``make bench-migration``'s fill, small): every
    payment, event, dead letter and outbox event is the account ``default``'s, every payment is found under the
    new key, and the old code's upsert, which names the key 0013 replaces, is refused (the README's upgrade
    note: old workers retry until they are stopped)."""
    url = make_url(database)
    upgraded = url.set(database=f"{url.database}_upgrade").render_as_string(hide_password=False)
    fill(300, upgraded)
    engine = create_engine(upgraded)
    with engine.connect() as conn:
        before = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in ACCOUNTED}
    command.upgrade(alembic_config(Settings.from_env({"PAYHOOK_DATABASE_URL": upgraded})), "head")
    try:
        with engine.begin() as conn:
            for table in ACCOUNTED:
                accounts = conn.execute(text(f"SELECT account, count(*) FROM {table} GROUP BY account")).all()
                assert [tuple(row) for row in accounts] == [("default", before[table])], table
            # Every payment again, as the new code inserts it: each one meets itself under the new key.
            inserted = conn.execute(
                text(
                    "INSERT INTO payments (provider, account, payment_key, status)"
                    " SELECT provider, 'default', payment_key, 'pending' FROM payments"
                    " ON CONFLICT (provider, account, payment_key) DO NOTHING RETURNING id"
                )
            ).all()
            assert inserted == []
        with engine.begin() as conn, pytest.raises(ProgrammingError, match="ON CONFLICT"):
            conn.execute(text(BEFORE[0].replace("%(provider)s", "'pivot'").replace("%(key)s", "'order-9'")))
    finally:
        engine.dispose()
        drop_database(upgraded)
