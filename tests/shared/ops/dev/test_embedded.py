"""The embedded servers of ``payhook dev``: a port in use is seen as such; the embedded Redis starts on a
loopback port with an append-only file, answers only with its password, and stops cleanly with its whole
process group; a missing package is a clear error. Starts one real Redis process (no PostgreSQL: ``test_dev``
covers it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError

from shared.ops.dev import embedded
from shared.ops.dev.embedded import EmbeddedError, port_free, start_redis
from tests.support.net import free_port


def test_a_port_in_use_is_not_free() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_free(port)
    assert port_free(free_port())


def test_the_embedded_redis_starts_keeps_an_append_only_file_and_stops(tmp_path: Path) -> None:
    port = free_port()
    server = start_redis(tmp_path, port, "embedded-test-password")
    try:
        client = Redis(host="127.0.0.1", port=port, password="embedded-test-password")
        with pytest.raises((AuthenticationError, ResponseError)):  # a password is required
            Redis(host="127.0.0.1", port=port).ping()
        assert client.set("k", "v") and client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()
    finally:
        server.stop(timeout=10)
    assert server.process is not None and server.process.poll() is not None
    assert port_free(port) and (tmp_path / "redis").is_dir()
    server.stop()  # stopping a stopped server is a no-op


def test_a_missing_package_names_the_extra_to_install() -> None:
    with pytest.raises(EmbeddedError, match=r"payhook\[embedded\]"):
        embedded._binaries("no_such_package_anywhere", "bin")
