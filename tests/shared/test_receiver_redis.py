"""The receiver's Redis client: commands packed in C, byte for byte as redis-py packs them (no I/O)."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError
from redis.typing import EncodableT

from shared.connections import receiver_redis
from shared.settings import Settings

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_unit"


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "0123abcd", 3, "k:stream", "k:bell", "k:seen", 5, b"pivot", b'{"a":"\x00\xff"}', b"{}", b"1.5"),
        ("CONFIG GET", "maxmemory"),
        (b"INFO", "memory"),
        ("SET", "k", "caf\u00e9", "EX", 10),
    ],
)
def test_the_receivers_client_packs_commands_as_redis_py_does(args: tuple[EncodableT, ...]) -> None:
    client = receiver_redis(Settings.from_env({"PAYHOOK_DATABASE_URL": DATABASE}))
    made = client.connection_pool.connection_class()
    assert type(made).__name__.startswith("PackedInC"), "packed in C, not by redis-py's Python packer"
    assert b"".join(made.pack_command(*args)) == b"".join(Connection().pack_command(*args))


def test_a_value_redis_cannot_take_is_refused_as_redis_py_refuses_it() -> None:
    client = receiver_redis(Settings.from_env({"PAYHOOK_DATABASE_URL": DATABASE}))
    with pytest.raises(DataError):
        client.connection_pool.connection_class().pack_command("SET", "k", None)  # type: ignore[arg-type]


def test_a_unix_socket_url_keeps_its_connection_kind() -> None:
    settings = Settings.from_env(
        {"PAYHOOK_DATABASE_URL": DATABASE, "PAYHOOK_REDIS_URL": "unix:///run/payhook-test/redis.sock"}
    )
    assert issubclass(receiver_redis(settings).connection_pool.connection_class, UnixDomainSocketConnection)
