"""Celery's consumer, reconnecting to the broker quickly.

Celery reconnects with kombu's defaults: 2 s before the first retry, 2 s more each time, up to 30 s. After a
Redis outage of a few seconds that adds seconds of nothing. Here: a retry at once, then every half second
more, at most 2 s apart.
"""

from __future__ import annotations

import functools
from typing import Any

from celery.worker.consumer import Consumer

RECONNECT = {"interval_start": 0.0, "interval_step": 0.5, "interval_max": 2.0}


class QuickReconnectConsumer(Consumer):  # type: ignore[misc]
    def ensure_connected(self, conn: Any) -> Any:
        conn.ensure_connection = functools.partial(conn.ensure_connection, **RECONNECT)
        return super().ensure_connected(conn)
