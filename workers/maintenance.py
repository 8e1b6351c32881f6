"""The periodic tick's work: ring a lost doorbell, trim acknowledged entries, forget dead consumers."""

from __future__ import annotations

from redis import Redis

from shared.backlog import group_info, queue_stats, text
from shared.doorbell import Doorbell
from shared.queue import QueueKeys

IDLE_CONSUMER_MS = 3_600_000


def needs_drain(redis: Redis, keys: QueueKeys, claim_timeout_ms: int) -> bool:
    """True when entries wait undelivered, or a crashed consumer left entries behind."""
    stats = queue_stats(redis, keys)
    if stats.queued:
        return True
    stuck = redis.xpending_range(keys.stream, keys.group, "-", "+", 1, idle=claim_timeout_ms) if stats.in_flight else []
    return bool(stuck)


def ring_if_needed(doorbell: Doorbell, claim_timeout_ms: int) -> bool:
    """Take doorbell 0 when work waits and no drain holds it, and ring it."""
    if not needs_drain(doorbell.redis, doorbell.keys, claim_timeout_ms) or not doorbell.take(0):
        return False
    return doorbell.ring(0)


def trim(redis: Redis, keys: QueueKeys) -> None:
    """Drop acknowledged entries: everything older than the oldest entry still pending or undelivered."""
    group = group_info(redis, keys)
    if group is None:
        return
    summary = redis.xpending(keys.stream, keys.group)
    if summary["pending"]:
        keep_from = text(summary["min"])
    else:
        ms, _, seq = text(group["last-delivered-id"]).partition("-")
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
    if group_info(redis, keys) is None:
        return
    forget = redis.register_script(_FORGET_IF_EMPTY)
    for consumer in redis.xinfo_consumers(keys.stream, keys.group):
        if int(consumer["pending"]) == 0 and int(consumer["idle"]) > IDLE_CONSUMER_MS:
            forget(keys=[keys.stream], args=[keys.group, consumer["name"]])
