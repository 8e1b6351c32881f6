"""Driving the outbox in-process: add endpoints, run delivery loops until a condition holds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from shared.ops.service import OperatorService
from shared.settings import Settings
from workers.context import WorkerContext
from workers.delivery.loop import DeliveryLoop
from workers.delivery.send import Handler


def add_endpoint(
    settings: Settings, url: str, events: list[str] | None = None, provider: str | None = None
) -> dict[str, Any]:
    ops = OperatorService(settings, pool_size=1)
    try:
        return ops.add_endpoint(url, events, provider, actor="test")
    finally:
        ops.close()


def deliver_until(
    settings: Settings,
    done: Callable[[], bool],
    *,
    timeout: float = 60.0,
    handlers: dict[str, Callable[[], Handler]] | None = None,
) -> None:
    """Run delivery loops in this process (what a worker's ``payhook.deliver`` task does, minus Celery) until
    ``done()``; retries come due while it waits."""
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    deadline = time.monotonic() + timeout
    try:
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries not done in {timeout}s")
            DeliveryLoop(ctx, handlers or {}).run(0)
            time.sleep(0.05)
    finally:
        ctx.close()
