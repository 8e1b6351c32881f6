"""The embedded PostgreSQL of ``payhook dev``: only the password lets a client in, its data folder is the
owner's alone, its readiness probe leaves no failed login in the log, and a data folder made by an earlier
payhook (every local connection trusted) is given the password at the next start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared.ops.dev.embedded import start_postgres
from tests.support.folders import reachable_folder
from tests.support.net import free_port

pytestmark = pytest.mark.integration


def _connects(port: int, password: str | None) -> bool:
    secret = f":{password}" if password is not None else ""
    try:
        with psycopg.connect(f"postgresql://postgres{secret}@127.0.0.1:{port}/postgres", connect_timeout=5) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


@pytest.fixture
def folder() -> Iterator[Path]:
    with reachable_folder() as made:
        yield made


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
