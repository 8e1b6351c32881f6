"""The queue contract: the only seam between the receiver and the workers.

Every acknowledged callback is one entry of a Redis Stream. Workers read it through one consumer group and
acknowledge an entry only after its effect is committed to PostgreSQL. Appending also takes doorbell 0
(``shared.doorbell``) in the same atomic step, so that a drain is published only when none is pending: the
append scripts, the doorbells' keys and their TTL are defined here, in one place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from redis import Redis

# A doorbell left by a drain (or delivery loop) that died expires after this long; the periodic tick rings a
# lost one.
BELL_TTL_SECONDS = 5
# The entry's field names, in the order of ``QueuedCallback.values()``: the one definition of the layout.
FIELDS = (b"p", b"b", b"h", b"t")
_PROVIDER, _BODY, _HEADERS, _RECEIVED = FIELDS
# Every provider has the merchant account ``default`` (the settings' own credentials); callbacks of another
# account carry it in the provider field as ``provider/account``, so the default's entries (and entries queued
# before accounts existed) stay as they were.
DEFAULT_ACCOUNT = "default"
_ACCOUNT_SEPARATOR = "/"


def route(provider: str, account: str = DEFAULT_ACCOUNT) -> str:
    """The provider field of an entry (and of a spooled callback) for ``provider``'s ``account``."""
    return provider if account == DEFAULT_ACCOUNT else f"{provider}{_ACCOUNT_SEPARATOR}{account}"


def unroute(field: str) -> tuple[str, str]:
    """The provider and account a provider field names."""
    provider, _, account = field.partition(_ACCOUNT_SEPARATOR)
    return provider, account or DEFAULT_ACCOUNT


def received_now() -> float:
    """The Unix time, in whole microseconds: what the receiver stamps a callback with (see ``seconds_text``)."""
    return time.time_ns() // 1000 / 1_000_000


def seconds_text(seconds: float) -> bytes:
    """``seconds`` as an entry's text, read back by ``float()`` as exactly the same number.

    ``repr()`` of a float searches for its shortest digits in big-integer arithmetic, some 6,000 instructions,
    a fifth of what the receiver adds to a request. A time in whole microseconds (``received_now``) is written
    from integers instead; the check that it reads back the same sends anything else to ``repr()``.
    """
    if 0.0 <= seconds < 1e11:  # not NaN, infinite or negative (whose fraction divmod would turn around)
        micros = round(seconds * 1_000_000)
        if micros / 1_000_000 == seconds:
            whole, fraction = divmod(micros, 1_000_000)
            return b"%d.%06d" % (whole, fraction)
    return repr(seconds).encode()


class MalformedEntry(ValueError):
    """A stream entry that lacks the fields this contract requires."""


@dataclass(frozen=True, slots=True)
class QueuedCallback:
    """A raw callback as the receiver acknowledged it: bytes unmodified, plus where and when it came."""

    provider: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    received_at: float = 0.0
    account: str = DEFAULT_ACCOUNT

    def values(self) -> tuple[bytes, bytes, bytes, bytes]:
        """The entry's field values, in the order of ``FIELDS``."""
        routed = route(self.provider, self.account).encode()
        return (routed, self.body, orjson.dumps(self.headers), seconds_text(self.received_at))

    def encode(self) -> dict[bytes, bytes]:
        return dict(zip(FIELDS, self.values(), strict=True))

    @classmethod
    def decode(cls, fields: Mapping[bytes, bytes]) -> QueuedCallback:
        try:
            headers = orjson.loads(fields[_HEADERS])
            provider, account = unroute(fields[_PROVIDER].decode())
            return cls(
                provider=provider,
                body=fields[_BODY],
                headers={str(k): str(v) for k, v in headers.items()},
                received_at=float(fields[_RECEIVED]),
                account=account,
            )
        except (KeyError, ValueError, AttributeError, orjson.JSONDecodeError) as exc:
            raise MalformedEntry(f"stream entry does not follow the queue contract: {exc!r}") from exc

    @classmethod
    def salvage(cls, entry_id: str, fields: Mapping[bytes, bytes]) -> QueuedCallback:
        """The entry as it was queued, or, when it breaks the contract, whatever of it can be kept for a dead
        letter: its provider and body when present, its entry id in the headers."""
        try:
            return cls.decode(fields)
        except MalformedEntry:
            provider, account = unroute(fields.get(_PROVIDER, b"unknown").decode(errors="replace")[:130])
            return cls(
                provider=provider[:64],
                body=fields.get(_BODY, b""),
                headers={"x-entry-id": entry_id},
                account=account[:64],
            )


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

    def drain_bell_key(self, slot: int) -> str:
        """The doorbell of drain ``slot``; slot 0 is the one appends take (``append_keys``)."""
        return f"{self.prefix}:drain:{slot}"

    def delivery_bell_key(self, slot: int) -> str:
        """The doorbell of delivery loop ``slot``; slot 0 is the one committed batches ring."""
        return f"{self.prefix}:deliver:{slot}"

    @property
    def accounts_version(self) -> str:
        """Bumped by every change of a merchant account: web processes reload their routing table."""
        return f"{self.prefix}:accounts-version"

    @property
    def workers_alive(self) -> str:
        """A sorted set: each worker's name, scored with the time of its last tick (the console counts them)."""
        return f"{self.prefix}:workers-alive"

    def reconcile_bell_key(self, slot: int) -> str:
        """The doorbell of the reconcile loop (slot 0: one loop at a time is enough, the providers' rates
        set the pace)."""
        return f"{self.prefix}:reconcile:{slot}"

    @property
    def spool_moved(self) -> str:
        """Ids of spooled callbacks appended to the stream whose spool rows may not be deleted yet."""
        return f"{self.prefix}:spool-moved"


def _append_script() -> str:
    pairs = ", ".join(f"'{name.decode()}', ARGV[at + {i}]" for i, name in enumerate(FIELDS))
    return f"""
local ids = {{}}
local n = (#ARGV - 1) / {len(FIELDS)}
for i = 0, n - 1 do
  local at = 2 + i * {len(FIELDS)}
  ids[i + 1] = redis.call('XADD', KEYS[1], '*', {pairs})
end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then ids[n + 1] = 1 else ids[n + 1] = 0 end
return ids
"""


def _move_script() -> str:
    """Like the append script, for spooled callbacks: each comes with its spool id, and one whose id is in the
    set of moved ids was appended before (by a mover whose delete then failed) and is skipped. Ids, not a
    rising mark: concurrent receivers commit spool rows out of id order."""
    width = len(FIELDS) + 1
    pairs = ", ".join(f"'{name.decode()}', ARGV[at + {i + 1}]" for i, name in enumerate(FIELDS))
    return f"""
local moved = 0
local n = (#ARGV - 1) / {width}
for i = 0, n - 1 do
  local at = 2 + i * {width}
  if redis.call('SADD', KEYS[3], ARGV[at]) == 1 then
    redis.call('XADD', KEYS[1], '*', {pairs})
    moved = moved + 1
  end
end
local rang = 0
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then rang = 1 end
return {{moved, rang}}
"""


# Appends callbacks and then takes the doorbell, atomically, in one round trip: the only way anything is
# appended. A drain that releases the doorbell and then reads once more is sure to see every entry appended
# before, or the appender finds the doorbell free and rings. KEYS: the stream, doorbell 0. ARGV: the
# doorbell's TTL, then each callback's ``values()``. Returns the entry ids, then 1 when the doorbell was
# free (the caller must ring it).
APPEND_SCRIPT = _append_script()
# KEYS: the stream, doorbell 0, the set of moved spool ids. ARGV: the doorbell's TTL, then per callback its
# spool id and ``values()``, in spool order. Returns how many were moved, and 1 when the doorbell was free.
MOVE_SCRIPT = _move_script()


def append_keys(keys: QueueKeys) -> list[str]:
    """``APPEND_SCRIPT``'s keys."""
    return [keys.stream, keys.drain_bell_key(0)]


def script_args(callbacks: list[QueuedCallback]) -> list[bytes | int]:
    """``APPEND_SCRIPT``'s arguments."""
    args: list[bytes | int] = [BELL_TTL_SECONDS]
    for callback in callbacks:
        args.extend(callback.values())
    return args


def move_keys(keys: QueueKeys) -> list[str]:
    """``MOVE_SCRIPT``'s keys."""
    return [keys.stream, keys.drain_bell_key(0), keys.spool_moved]


def move_args(spooled: list[tuple[int, QueuedCallback]]) -> list[bytes | int]:
    """``MOVE_SCRIPT``'s arguments: each spooled callback with its spool id before its values."""
    args: list[bytes | int] = [BELL_TTL_SECONDS]
    for spool_id, callback in spooled:
        args += [spool_id, *callback.values()]
    return args


def append_sync(
    redis: Redis, keys: QueueKeys, callbacks: list[QueuedCallback], chunk: int = 256
) -> tuple[list[bytes], bool]:
    """Append callbacks in order from synchronous code (an operator's replay, tests), a chunk per round trip:
    their entry ids, and whether an append took doorbell 0 (then the caller must ring it)."""
    script = redis.register_script(APPEND_SCRIPT)
    ids: list[bytes] = []
    took = False
    for start in range(0, len(callbacks), chunk):
        *chunk_ids, took_now = script(keys=append_keys(keys), args=script_args(callbacks[start : start + chunk]))
        ids.extend(chunk_ids)
        took = took or bool(took_now)
    return ids, took
