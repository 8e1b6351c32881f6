"""``payhook dev``: one command, embedded PostgreSQL and Redis, a callback per provider applied, a clean stop,
data kept across restarts; and its process lines are the Procfile's."""

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

from shared.ops.dev.stack import process_commands
from shared.providers import all_providers
from tests.support.net import free_port
from tests.support.processes import procfile_command, wait_for

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
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    def start(self) -> subprocess.Popen[str]:
        # The machine's services out of reach: no URLs set, so the embedded servers are the only ones.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHOOK_")}
        command = [
            sys.executable, "-m", "shared.ops.cli", "dev", "--port", str(self.port), "--data-dir",
            str(self.folder / "data"), "--postgres-port", str(self.postgres_port), "--redis-port", str(self.redis_port),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 120
        self.lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise AssertionError("payhook dev exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if line.strip().startswith("payhook payments show revenue-monster"):
                return self.process
        raise AssertionError("payhook dev did not print its banner:\n" + "".join(self.lines))

    def curls(self) -> list[list[str]]:
        return [shlex.split(line) for line in self.lines if line.strip().startswith("curl ")]

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(90)

    def status(self, provider: str, order_ref: str) -> str | None:
        dsn = f"postgresql://postgres@127.0.0.1:{self.postgres_port}/payhook"
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


def _processes_using(folder: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmdline:
                found.append(cmdline)
    return found


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    runner = Dev(tmp_path)
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

    assert dev.stop() == 0
    assert _processes_using(dev.folder) == [], "no orphaned postgres, redis-server, uvicorn or celery"

    # Data outlives the stack: a restart finds the payments.
    dev.start()
    assert dev.status("pivot", "1750758552") == "paid"
    assert dev.stop() == 0
    assert _processes_using(dev.folder) == []


def test_a_taken_port_is_a_clear_error(dev: Dev) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", dev.port))
        taken.listen()
        with pytest.raises(AssertionError, match=f"port {dev.port}, for the web process, is taken"):
            dev.start()
    assert dev.process is not None and dev.process.wait(10) != 0
    assert _processes_using(dev.folder) == []
