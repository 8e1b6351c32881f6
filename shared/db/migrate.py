"""`payhook migrate`: bring the schema to the latest Alembic revision, idempotently."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared.db import accounts
from shared.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def create_database_if_missing(settings: Settings) -> None:
    """A newcomer's first `payhook migrate` should not fail because the database itself is not there."""
    url = make_url(settings.database_url)
    try:
        create_engine(url).connect().close()
    except OperationalError as exc:
        if "does not exist" not in str(exc.orig):
            raise
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
        admin.dispose()


def upgrade(settings: Settings) -> None:
    """The schema at its latest revision; then the accounts' fingerprints keyed with the current sealing key
    (those from before keyed fingerprints told a short secret to whoever could hash guesses)."""
    create_database_if_missing(settings)
    command.upgrade(alembic_config(settings), "head")
    engine = create_engine(settings.database_url)
    try:
        with Session(engine) as session, session.begin():
            accounts.refingerprint(session, settings.sealer)
    finally:
        engine.dispose()
