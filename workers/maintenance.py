"""The periodic tick and the queue's numbers: what keeps the stream draining and bounded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis import Redis

from shared.queue import DOORBELL_TTL_SECONDS, QueueKeys

IDLE_CONSUMER_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued: int
    in_flight: int
    oldest_waiting_seconds: float | None


def _group(redis: Redis, keys: QueueKeys) -> dict[str, Any] | None:
    if not redis.exists(keys.stream):
        return None
    for group in redis.xinfo_groups(keys.stream):
        if _text(group["name"]) == keys.group:
            return dict(group)
    return None


def queue_stats(redis: Redis, keys: QueueKeys) -> QueueStats:
    """Entries not yet delivered to a worker, entries delivered and not acknowledged, the oldest's age."""
    group = _group(redis, keys)
    if group is None:
        length = int(redis.xlen(keys.stream)) if redis.exists(keys.stream) else 0
        first = redis.xrange(keys.stream, count=1) if length else []
        return QueueStats(length, 0, _age(_text(first[0][0])) if first else None)
    last = _text(group["last-delivered-id"])
    lag = group.get("lag")
    following = redis.xrange(keys.stream, min=f"({last}", count=1)
    queued = int(lag) if lag is not None else int(redis.xlen(keys.stream))
    summary = redis.xpending(keys.stream, keys.group)
    in_flight = int(summary["pending"])
    candidates = [_text(summary["min"])] if in_flight else []
    if following:
        candidates.append(_text(following[0][0]))
    oldest = min(candidates, key=_id_key) if candidates else None
    return QueueStats(queued, in_flight, _age(oldest) if oldest else None)


def needs_drain(redis: Redis, keys: QueueKeys, claim_timeout_ms: int) -> bool:
    """True when entries wait undelivered, or a crashed consumer left entries behind."""
    stats = queue_stats(redis, keys)
    if stats.queued:
        return True
    stuck = redis.xpending_range(keys.stream, keys.group, "-", "+", 1, idle=claim_timeout_ms) if stats.in_flight else []
    return bool(stuck)


def ring_if_needed(redis: Redis, keys: QueueKeys, claim_timeout_ms: int) -> bool:
    """Take the doorbell when work waits and no drain holds it; the caller then publishes a drain."""
    if not needs_drain(redis, keys, claim_timeout_ms):
        return False
    return bool(redis.set(keys.drain_slot(0), b"1", nx=True, ex=DOORBELL_TTL_SECONDS))


def trim(redis: Redis, keys: QueueKeys) -> None:
    """Drop acknowledged entries: everything older than the oldest entry still pending or undelivered."""
    group = _group(redis, keys)
    if group is None:
        return
    summary = redis.xpending(keys.stream, keys.group)
    if summary["pending"]:
        keep_from = _text(summary["min"])
    else:
        ms, _, seq = _text(group["last-delivered-id"]).partition("-")
        keep_from = f"{ms}-{int(seq or 0) + 1}"
    redis.xtrim(keys.stream, minid=keep_from, approximate=True)


# Deleting a consumer drops its pending entries, so the check and the delete must be one atomic step: a
# consumer that reads between them would otherwise lose what it just read.
_FORGET_IF_EMPTY = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


def forget_idle_consumers(redis: Redis, keys: QueueKeys) -> None:
    """Consumers of processes long gone, with nothing pending, are removed from the group."""
    if _group(redis, keys) is None:
        return
    forget = redis.register_script(_FORGET_IF_EMPTY)
    for consumer in redis.xinfo_consumers(keys.stream, keys.group):
        if int(consumer["pending"]) == 0 and int(consumer["idle"]) > IDLE_CONSUMER_MS:
            forget(keys=[keys.stream], args=[keys.group, consumer["name"]])


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _age(entry_id: str) -> float:
    return max(0.0, time.time() - _id_key(entry_id)[0] / 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
