"""The fallback spool: when Redis cannot take a callback (down, hung, or nearly full), the receiver stores it
in PostgreSQL, durably, and still answers 200. Workers move spooled callbacks into the stream once Redis is
back (``workers.maintenance.move_spool``).

The pool opens no connection until the first callback needs it: while Redis is healthy the callback path
never touches PostgreSQL.
"""

from __future__ import annotations

import logging

import orjson
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from shared.queue import QueuedCallback, route
from shared.sealing import Sealer
from shared.settings import Settings

log = logging.getLogger(__name__)
_INSERT = (
    "INSERT INTO spooled_callbacks (provider, body, headers, received_at) VALUES (%s, %s, %s::jsonb, %s) RETURNING id"
)


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as libpq takes it."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Spool:
    def __init__(self, settings: Settings) -> None:
        self._sealer = Sealer(settings.encryption_keys)
        bound_ms = int(settings.request_timeout_seconds * 1000)
        self._pool = AsyncConnectionPool(
            libpq_url(settings.database_url),
            min_size=0,
            max_size=4,
            open=False,
            timeout=2.0,
            kwargs={
                "autocommit": True,
                "connect_timeout": 2,
                "application_name": "payhook-spool",
                "options": f"-c statement_timeout={bound_ms}",
            },
        )
        self._opened = False

    async def store(self, callback: QueuedCallback) -> int:
        """The spool id, once PostgreSQL has committed the callback."""
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                _INSERT,
                (
                    route(callback.provider, callback.account),
                    self._sealer.seal(callback.body),
                    orjson.dumps(callback.headers).decode(),
                    callback.received_at,
                ),
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def reachable(self) -> bool:
        try:
            await self.store_probe()
        except Exception:
            return False
        return True

    async def store_probe(self) -> None:
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
