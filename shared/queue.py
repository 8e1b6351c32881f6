"""The queue contract: the only seam between the receiver and the workers.

Every acknowledged callback is one entry of a Redis Stream. Workers read it through one consumer group and
acknowledge an entry only after its effect is committed to PostgreSQL. A *doorbell* key tells the receiver
whether a drain task is already pending, so that it publishes a Celery message only when none is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from redis import Redis

DRAIN_TASK = "payhook.drain"
TICK_TASK = "payhook.tick"

_PROVIDER, _BODY, _HEADERS, _RECEIVED = b"p", b"b", b"h", b"t"
FIELDS = (_PROVIDER, _BODY, _HEADERS, _RECEIVED)


class MalformedEntry(ValueError):
    """A stream entry that lacks the fields this contract requires."""


@dataclass(frozen=True, slots=True)
class QueuedCallback:
    """A raw callback as the receiver acknowledged it: bytes unmodified, plus where and when it came."""

    provider: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    received_at: float = 0.0

    def values(self) -> tuple[bytes, bytes, bytes, bytes]:
        """The entry's field values, in the order of ``FIELDS`` (and of ``APPEND_SCRIPT``'s arguments)."""
        return (self.provider.encode(), self.body, orjson.dumps(self.headers), repr(self.received_at).encode())

    def encode(self) -> dict[bytes, bytes]:
        return dict(zip(FIELDS, self.values(), strict=True))

    @classmethod
    def decode(cls, fields: dict[bytes, bytes]) -> QueuedCallback:
        try:
            headers = orjson.loads(fields[_HEADERS])
            return cls(
                provider=fields[_PROVIDER].decode(),
                body=fields[_BODY],
                headers={str(k): str(v) for k, v in headers.items()},
                received_at=float(fields[_RECEIVED]),
            )
        except (KeyError, ValueError, AttributeError, orjson.JSONDecodeError) as exc:
            raise MalformedEntry(f"stream entry does not follow the queue contract: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """Names of the Redis keys; one prefix per deployment (and per test run)."""

    prefix: str = "payhook"

    @property
    def stream(self) -> str:
        return f"{self.prefix}:callbacks"

    @property
    def group(self) -> str:
        return f"{self.prefix}:workers"

    def drain_slot(self, slot: int) -> str:
        """Lease key of drain ``slot``; slot 0 is the doorbell the receiver rings."""
        return f"{self.prefix}:drain:{slot}"


# A doorbell outlives a drain that died without clearing it by at most this long; the beat tick covers the gap.
DOORBELL_TTL_SECONDS = 5


# Appends callbacks and then takes the doorbell, atomically, in one round trip: the only way anything is
# appended. A drain that clears the doorbell and then reads once more is sure to see every entry appended
# before, or the appender finds the doorbell free and rings. ARGV: the doorbell TTL, then each callback's
# ``values()``. Returns the entry ids, then 1 when the doorbell was free (the caller must publish a drain).
APPEND_SCRIPT = """
local ids = {}
local n = (#ARGV - 1) / 4
for i = 0, n - 1 do
  local at = 2 + i * 4
  ids[i + 1] = redis.call('XADD', KEYS[1], '*', 'p', ARGV[at], 'b', ARGV[at + 1], 'h', ARGV[at + 2], 't', ARGV[at + 3])
end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then ids[n + 1] = 1 else ids[n + 1] = 0 end
return ids
"""


def script_args(callbacks: list[QueuedCallback]) -> list[bytes | int]:
    args: list[bytes | int] = [DOORBELL_TTL_SECONDS]
    for callback in callbacks:
        args.extend(callback.values())
    return args


def enqueue_sync(redis: Redis, keys: QueueKeys, callback: QueuedCallback) -> tuple[bytes, bool]:
    """``APPEND_SCRIPT`` for one callback, from synchronous code (operators replaying dead letters)."""
    *ids, rang = redis.register_script(APPEND_SCRIPT)(
        keys=[keys.stream, keys.drain_slot(0)], args=script_args([callback])
    )
    return ids[0], bool(rang)
