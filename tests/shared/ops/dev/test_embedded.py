"""The embedded servers of ``payhook dev``. PostgreSQL: only the password lets a client in, its data folder is
the owner's alone, its readiness probe leaves no failed login in the log, and a data folder made by an earlier
payhook (every local connection trusted) is given the password at the next start. Redis: on a loopback port
with an append-only file, answering only with its password, stopped cleanly with its whole process group.
A port in use is seen as such; a missing package is a clear error."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError

from shared.ops.dev import embedded
from shared.ops.dev.embedded import EmbeddedError, port_free, start_postgres, start_redis
from tests.support.folders import reachable_folder
from tests.support.net import free_port


@pytest.fixture
def folder() -> Iterator[Path]:
    """Outside pytest's temporary folders: run as root, the embedded PostgreSQL runs as ``nobody``, and each pytest
    session on the machine takes back the permissions of ``/tmp/pytest-of-root`` (tests/support/folders.py)."""
    with reachable_folder() as made:
        yield made


def _connects(port: int, password: str | None) -> bool:
    secret = f":{password}" if password is not None else ""
    try:
        with psycopg.connect(f"postgresql://postgres{secret}@127.0.0.1:{port}/postgres", connect_timeout=5) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


@pytest.mark.integration
def test_only_the_password_lets_a_client_in_even_in_a_folder_that_trusted_everyone(folder: Path) -> None:
    port = free_port()
    server = start_postgres(folder, port, "first-password")
    try:
        assert _connects(port, "first-password")
        assert not _connects(port, None)
        assert not _connects(port, "wrong")
    finally:
        server.stop()
    pgdata = folder / "postgres"
    assert pgdata.stat().st_mode & 0o777 == 0o700
    assert 'role "root"' not in (folder / "postgres.log").read_text()

    # As an earlier payhook dev left it: every local connection trusted.
    (pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    server = start_postgres(folder, port, "second-password")
    try:
        assert _connects(port, "second-password")
        assert not _connects(port, None)
        assert not _connects(port, "first-password")
    finally:
        server.stop()


def test_a_port_in_use_is_not_free() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_free(port)
    assert port_free(free_port())


@pytest.mark.integration
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


def test_a_server_that_exits_at_start_is_named_with_what_it_logged_this_time_in_one_line(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("an earlier run's line\n" * 200)
    since = log.stat().st_size
    with log.open("ab") as out:
        exits = subprocess.Popen(["sh", "-c", "echo 'FATAL:  lock file exists'; echo 'HINT:  Is another one running?'"],
                                 stdout=out)  # fmt: skip
        exits.wait()
    with pytest.raises(EmbeddedError) as failed:
        embedded._wait(lambda: False, exits, "the embedded Thing", log, since)
    said = str(failed.value)
    assert said == (
        "the embedded Thing exited at start: FATAL:  lock file exists | HINT:  Is another one running?"
        f" (its log: {log})"
    )
