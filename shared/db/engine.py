"""Engine and session factories. Call them once per process, after Celery forks, never at import time."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import Settings


def make_engine(settings: Settings, *, pool_size: int = 5) -> Engine:
    return create_engine(
        settings.database_url,
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 3, "application_name": "payhook"},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
