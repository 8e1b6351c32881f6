"""``payhook dev``: one command, embedded PostgreSQL and Redis (password-protected, owner-only data), a callback
per provider applied, the providers' stand-in beside it, a clean stop on SIGTERM or SIGHUP and nothing left
behind when it is killed, data kept across restarts, its settings used by a ``payhook`` command run beside it;
and its process lines are the Procfile's."""

from __future__ import annotations

import functools
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from shared.ops.dev.envfile import read_env
from shared.ops.dev.stack import process_commands
from shared.providers import all_providers, midtrans
from tests.support.folders import reachable_folder
from tests.support.net import free_port
from tests.support.processes import procfile_command, wait_for, with_this_test_process

pytestmark = pytest.mark.integration


def test_dev_runs_the_procfile_lines() -> None:
    env = {"PORT": "8123", "PAYHOOK_BEAT_SCHEDULE": "/x/schedule", "PAYHOOK_WORKER_CONCURRENCY": "3"}
    for name, command in process_commands(env).items():
        procfile = procfile_command(name, env)
        assert command[:3] == [sys.executable, "-m", Path(procfile[0]).name]
        assert command[3:] == procfile[1:], name


class Dev:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port, self.postgres_port, self.redis_port = free_port(), free_port(), free_port()
        self.metrics_port, self.simulate_port = free_port(), free_port()
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    @property
    def data(self) -> Path:
        return self.folder / ".payhook"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "shared.ops.cli", "dev", "--port", str(self.port),
            "--postgres-port", str(self.postgres_port), "--redis-port", str(self.redis_port),
            "--metrics-port", str(self.metrics_port), "--simulate-port", str(self.simulate_port),
        ]  # fmt: skip

    def start(self) -> subprocess.Popen[str]:
        # Its default data folder, .payhook/ here.
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.folder,
            env=_bare_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=with_this_test_process(),  # noqa: PLW1509 - tests start processes from the main thread
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 120
        self.lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise AssertionError("payhook dev exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if " payments show revenue-monster " in line:
                return self.process
        raise AssertionError("payhook dev did not print its banner:\n" + "".join(self.lines))

    def curls(self) -> list[list[str]]:
        return [shlex.split(line) for line in self.lines if line.strip().startswith("curl ")]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(90)

    def settings(self) -> dict[str, str]:
        return read_env(self.data / "env")

    def status(self, provider: str, order_ref: str) -> str | None:
        dsn = self.settings()["PAYHOOK_DATABASE_URL"].replace("+psycopg", "")
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT status FROM payments WHERE provider = %s AND order_ref = %s", (provider, order_ref)
            ).fetchone()
        return None if row is None else str(row[0])


def _send(curl: list[str]) -> httpx.Response:
    """A printed curl command, sent with httpx: the URL, its -H headers and the @file body."""
    url = curl[2]
    headers = dict(curl[i + 1].split(": ", 1) for i, word in enumerate(curl) if word == "-H")
    body = Path(curl[curl.index("--data-binary") + 1].removeprefix("@")).read_bytes()
    return httpx.post(url, content=body, headers=headers, timeout=10)


def _bare_env() -> dict[str, str]:
    """The machine's services out of reach: no URLs set, so the embedded servers are the only ones."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PAYHOOK_")}


def _processes_using(folder: Path) -> list[str]:
    """Processes whose command line or environment names ``folder`` (every child of payhook dev has its data
    folder in PAYHOOK_BEAT_SCHEDULE), other than this one."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (proc / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmdline or str(folder) in environ:
                found.append(cmdline)
    return found


def _none_left(folder: Path) -> bool:
    return _processes_using(folder) == []


@pytest.fixture
def dev() -> Iterator[Dev]:
    with reachable_folder() as folder:
        runner = Dev(folder)
        yield runner
        if runner.process is not None and runner.process.poll() is None:
            runner.stop()


def _is_paid(dev: Dev, provider: str, order_ref: str) -> bool:
    return dev.status(provider, order_ref) == "paid"


def test_one_command_runs_everything_applies_a_callback_per_provider_and_stops_cleanly(dev: Dev) -> None:
    dev.start()
    banner = "".join(dev.lines)
    assert f"serving http://127.0.0.1:{dev.port}" in banner
    assert f"console: http://127.0.0.1:{dev.port}/console" in banner
    assert f"worker metrics: http://127.0.0.1:{dev.metrics_port}/metrics" in banner
    assert f"stand-in: http://127.0.0.1:{dev.simulate_port}" in banner
    token = next(line.split("=", 1)[1].strip() for line in dev.lines if "PAYHOOK_ADMIN_TOKEN=" in line)
    signed_in = httpx.post(f"http://127.0.0.1:{dev.port}/console/sign-in", data={"token": token})
    assert signed_in.status_code == 303 and "payhook_console=" in signed_in.headers["set-cookie"]
    for provider in all_providers().values():
        assert provider.credential in banner
    curls = dev.curls()
    assert len(curls) == len(all_providers())
    for curl in curls:
        answer = _send(curl)
        assert answer.status_code == 200, answer.text
    for provider in all_providers().values():
        event = provider.normalize(provider.samples()[provider.example])
        assert event is not None and event.order_ref is not None
        name, ref = provider.name, event.order_ref
        wait_for(functools.partial(_is_paid, dev, name, ref), 60, f"{name} paid")
    # The printed commands work pasted as they are, in the folder it ran in, with nothing exported.
    shows = [line.strip() for line in dev.lines if " payments show " in line]
    assert len(shows) == len(all_providers())
    for line in shows:
        pasted = {"shell": True, "cwd": dev.folder, "env": _bare_env(), "capture_output": True, "text": True}
        shown = subprocess.run(line, check=False, **pasted)  # type: ignore[call-overload]
        assert shown.returncode == 0 and "paid" in shown.stdout, (line, shown.stdout, shown.stderr)
        assert "using the settings of payhook dev" in shown.stderr

    # A closed terminal stops it like SIGTERM.
    assert dev.stop(signal.SIGHUP) == 0
    assert _processes_using(dev.folder) == [], "no orphaned postgres, redis-server, uvicorn, celery or stand-in"

    # Data outlives the stack: a restart finds the payments.
    dev.start()
    assert dev.status("pivot", "1750758552") == "paid"
    # Killed outright, it leaves nothing running: each child stops when its parent dies.
    assert dev.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_for(functools.partial(_none_left, dev.folder), 60, f"no process left: {_processes_using(dev.folder)}")


def test_the_stack_is_locked_and_a_payhook_command_beside_it_uses_its_settings(dev: Dev) -> None:
    dev.start()
    settings = dev.settings()
    assert (dev.data / "env").stat().st_mode & 0o777 == 0o600
    for folder in ("postgres", "redis", "keys", "logs"):
        assert (dev.data / folder).stat().st_mode & 0o777 == 0o700, folder
    assert (dev.data / "redis.conf").stat().st_mode & 0o777 == 0o600
    # Midtrans's unsigned notification is checked with the stand-in (the provider's default, not turned off).
    assert midtrans.confirms_callbacks(settings)

    # Neither server takes a client without the password.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{dev.postgres_port}/payhook", connect_timeout=5)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://postgres:wrong@127.0.0.1:{dev.postgres_port}/payhook", connect_timeout=5)
    with redis.Redis(port=dev.redis_port, protocol=2) as bare, pytest.raises(redis.AuthenticationError):
        bare.ping()
    with redis.Redis.from_url(settings["PAYHOOK_REDIS_URL"]) as authenticated:
        assert authenticated.ping()

    # The worker's metrics answer on 127.0.0.1 alone (127.0.0.2 is loopback too, and reaches a 0.0.0.0 bind).
    assert httpx.get(f"http://127.0.0.1:{dev.metrics_port}/metrics", timeout=10).status_code == 200
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", dev.metrics_port), timeout=5):
        pass

    beside = subprocess.run(
        [sys.executable, "-m", "shared.ops.cli", "stats", "--json"],
        cwd=dev.folder, env=_bare_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert beside.returncode == 0, beside.stderr
    assert '"dead_letters": 0' in beside.stdout
    assert beside.stderr.count("\n") == 1 and ".payhook/env" in beside.stderr
    assert dev.stop() == 0


def test_a_stop_signal_while_it_starts_stops_it_at_once_and_leaves_nothing(dev: Dev) -> None:
    process = subprocess.Popen(dev.command(), cwd=dev.folder, env=_bare_env(), stdout=subprocess.PIPE, text=True)
    try:
        # The embedded PostgreSQL is starting (its log exists once initdb is done).
        wait_for((dev.data / "postgres.log").exists, 60, "the embedded PostgreSQL to start")
        process.send_signal(signal.SIGHUP)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        assert "serving" not in output, "it finished starting before it stopped"
    finally:
        process.kill()
        process.wait()
    wait_for(functools.partial(_none_left, dev.folder), 60, f"no process left: {_processes_using(dev.folder)}")


# A stop signal whose handler runs inside a fork hook: Python prints the handler's exception as "ignored" and
# goes on, which once let a SIGHUP sent while PostgreSQL started be lost and the stack start in full.
_SIGNAL_IN_A_FORK_HOOK = """
import os, signal, sys
fired = []
def hook():
    if not fired:
        fired.append(True)
        signal.raise_signal(signal.SIGHUP)
        fired.append(True)  # the handler runs here, inside the hook
os.register_at_fork(after_in_parent=hook)
sys.argv = ["payhook", *sys.argv[1:]]
from shared.ops.cli import main
main()
"""


def test_a_stop_signal_lost_inside_a_fork_hook_still_stops_the_start(dev: Dev) -> None:
    command = [sys.executable, "-c", _SIGNAL_IN_A_FORK_HOOK, *dev.command()[3:]]
    process = subprocess.run(
        command, cwd=dev.folder, env=_bare_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert "Exception ignored" in process.stderr, "the signal did not arrive inside the fork hook"
    assert process.returncode == 0, process.stderr
    assert "serving" not in process.stdout, "it finished starting before it stopped"
    wait_for(functools.partial(_none_left, dev.folder), 60, f"no process left: {_processes_using(dev.folder)}")


@pytest.mark.parametrize(
    ("port", "what", "option"),
    [
        ("port", "the web process", "--port"),
        ("metrics_port", "the worker's metrics", "--metrics-port"),
        ("simulate_port", "the providers' stand-in", "--simulate-port"),
        ("redis_port", "the embedded Redis", "--redis-port"),
    ],
)
def test_a_taken_port_is_refused_in_one_line_naming_its_option(dev: Dev, port: str, what: str, option: str) -> None:
    number = getattr(dev, port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", number))
        taken.listen()
        done = subprocess.run(
            dev.command(), cwd=dev.folder, env=_bare_env(), capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"payhook: port {number}, for {what}, is taken: stop what uses it or "
                                        f"choose another with {option}"]  # fmt: skip
    assert not dev.data.exists(), "nothing started, nothing written"
    assert _processes_using(dev.folder) == []


def test_a_second_payhook_dev_on_the_same_folder_is_one_line_naming_the_first(dev: Dev) -> None:
    first = dev.start()
    # The same command in a second terminal: same folder, same ports.
    second = subprocess.run(
        dev.command(), cwd=dev.folder, env=_bare_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert second.returncode == 1 and second.stdout == ""
    assert second.stderr.splitlines() == [
        f"payhook: the data folder {dev.data.resolve()} is in use by another payhook dev (pid {first.pid}): stop"
        " that one, or give this one another --data-dir"
    ]
    assert httpx.get(f"http://127.0.0.1:{dev.port}/healthz", timeout=10).status_code == 200, "the first serves on"
    assert dev.stop() == 0
