"""What waits in the queue: the numbers operators, the metrics and the periodic tick read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.queue import QueueKeys


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued: int
    in_flight: int
    oldest_waiting_seconds: float | None
    # Entries delivered and not yet acknowledged, by consumer (a worker process).
    pending_by_consumer: dict[str, int] = field(default_factory=dict)


def group_info(redis: Redis, keys: QueueKeys) -> dict[str, Any] | None:
    if not redis.exists(keys.stream):
        return None
    for group in redis.xinfo_groups(keys.stream):
        if text(group["name"]) == keys.group:
            return dict(group)
    return None


def queue_stats(redis: Redis, keys: QueueKeys) -> QueueStats:
    """Entries not yet delivered to a worker, entries delivered and not acknowledged, the oldest's age.

    Workers delete what they acknowledge, so the stream holds exactly what waits: its length less what is
    pending is what is queued. Nothing here trusts the group's ``lag``, which an AOF rewrite and a restart
    can leave counting entries long gone.
    """
    length = int(redis.xlen(keys.stream))
    group = group_info(redis, keys) if length else None
    if group is None:
        first = redis.xrange(keys.stream, count=1) if length else []
        return QueueStats(length, 0, _age(text(first[0][0])) if first else None)
    summary = redis.xpending(keys.stream, keys.group)
    in_flight = int(summary["pending"])
    candidates = [text(summary["min"])] if in_flight else []
    following = redis.xrange(keys.stream, min=f"({text(group['last-delivered-id'])}", count=1)
    if following:
        candidates.append(text(following[0][0]))
    oldest = min(candidates, key=id_key) if candidates else None
    by_consumer = {text(c["name"]): int(c["pending"]) for c in summary.get("consumers") or []}
    return QueueStats(max(0, length - in_flight), in_flight, _age(oldest) if oldest else None, by_consumer)


def queue_stats_if_reachable(redis: Redis, keys: QueueKeys) -> QueueStats | None:
    """``queue_stats``, or None while Redis is unreachable (the metrics and ``payhook stats`` show the rest)."""
    try:
        return queue_stats(redis, keys)
    except (RedisConnectionError, RedisTimeoutError):
        return None


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _age(entry_id: str) -> float:
    return max(0.0, time.time() - id_key(entry_id)[0] / 1000)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
