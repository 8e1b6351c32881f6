"""Reading state back for assertions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from shared.db.engine import make_sessionmaker
from shared.db.payments import find_payment, payment_document


def payment(engine: Engine, provider: str, ref: str) -> dict[str, Any] | None:
    with make_sessionmaker(engine)() as session:
        found = find_payment(session, provider, ref)
        return None if found is None else payment_document(session, found)


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()
