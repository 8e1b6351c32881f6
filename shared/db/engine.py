"""Engine and session factories. Call them once per process, after Celery forks, never at import time."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import Settings


def make_engine(settings: Settings, *, pool_size: int = 5) -> Engine:
    """Every wait on PostgreSQL is bounded well inside the claim timeout: a worker stuck on a lock or a dead
    connection fails (and retries) long before another worker could reclaim the entries it holds."""
    bound_ms = max(500, int(settings.claim_timeout_seconds * 1000 / 3))
    options = (
        f"-c lock_timeout={bound_ms} -c statement_timeout={bound_ms} "
        f"-c idle_in_transaction_session_timeout={bound_ms * 3}"
    )
    return create_engine(
        settings.database_url,
        pool_size=pool_size,
        pool_pre_ping=True,
        # Errors never carry bound values into logs: those are raw callbacks, with personal data.
        hide_parameters=True,
        connect_args={
            "connect_timeout": 3,
            "application_name": "payhook",
            "options": options,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": bound_ms,
        },
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
