"""The queue contract: one entry layout, the append script generated from it, salvage of broken entries."""

from __future__ import annotations

from typing import Any, cast

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.doorbell import Doorbell
from shared.queue import (
    BELL_TTL_SECONDS,
    FIELDS,
    MalformedEntry,
    QueuedCallback,
    QueueKeys,
    append_sync,
    received_now,
    seconds_text,
)

KEYS = QueueKeys("payhook-unit")


def test_a_callback_appended_by_the_script_decodes_to_itself_and_takes_the_doorbell() -> None:
    redis = fakeredis.FakeRedis()
    callback = QueuedCallback("pivot", b'{"raw": "bytes \\u0000 kept"}', {"content-type": "application/json"}, 12.5)
    [first], took = append_sync(redis, KEYS, [callback])
    [second], took_again = append_sync(redis, KEYS, [callback])
    assert took and not took_again, "the first append takes doorbell 0, the next finds it taken"
    [(id1, fields1), (id2, _)] = cast(Any, redis.xrange(KEYS.stream))
    assert (id1, id2) == (first, second)
    assert set(fields1) == set(FIELDS)
    assert QueuedCallback.decode(fields1) == callback
    assert redis.get(KEYS.drain_bell_key(0)) == b"1"
    assert 0 < int(redis.ttl(KEYS.drain_bell_key(0))) <= BELL_TTL_SECONDS


def test_the_doorbell_is_taken_once_until_released() -> None:
    redis = fakeredis.FakeRedis()
    doorbell = Doorbell(KEYS, redis=redis)
    assert doorbell.take(1) and not doorbell.take(1)
    doorbell.release(1)
    assert doorbell.take(1)
    assert not doorbell.ring(1), "without Celery there is nothing to ring"


@pytest.mark.parametrize(
    "fields",
    [{b"p": b"pivot", b"b": b"body"}, {b"b": b"body", b"h": b"not json", b"t": b"1"}, {}],
    ids=["missing-fields", "garbled-headers", "empty"],
)
def test_a_broken_entry_is_refused_and_what_can_be_kept_is_salvaged(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(MalformedEntry):
        QueuedCallback.decode(fields)
    salvaged = QueuedCallback.salvage("1-0", fields)
    assert salvaged.body == fields.get(b"b", b"")
    assert salvaged.provider == fields.get(b"p", b"unknown").decode()
    assert salvaged.headers == {"x-entry-id": "1-0"}


@given(st.floats(allow_nan=False) | st.integers(0, 10**16).map(lambda micros: micros / 1_000_000))
def test_an_entrys_time_reads_back_as_exactly_the_same_number(seconds: float) -> None:
    assert float(seconds_text(seconds)) == seconds


def test_a_received_time_is_written_to_the_microsecond_from_integers() -> None:
    received = received_now()
    text = seconds_text(received)
    assert float(text) == received
    assert text == b"%d.%06d" % divmod(round(received * 1_000_000), 1_000_000)
    assert QueuedCallback.decode(QueuedCallback("pivot", b"{}", {}, received).encode()).received_at == received
