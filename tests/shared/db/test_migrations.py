"""The migrations and the models describe one schema: what `payhook migrate` builds is what the code maps."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from shared.db.models import Base

pytestmark = pytest.mark.integration


def test_the_migrated_schema_matches_the_models(database: str) -> None:
    engine = create_engine(database)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert differences == []
