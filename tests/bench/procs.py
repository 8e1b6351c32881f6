"""Starting what the benchmark measures, pinned to a core where it can be."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import web_command, worker_command

ROOT = Path(__file__).resolve().parents[2]
SERVER_CORE = 0
LOAD_CORE = 1


def pinned(command: list[str], core: int | None) -> list[str]:
    if core is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return command
    return ["taskset", "-c", str(core), *command]


class Proc:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)

    def rss_mb(self, *, children: bool = False) -> float:
        """Resident memory of the process, or of its forked children (a Celery pool) added up."""
        pids = [self.popen.pid]
        if children:
            found = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children").read_text().split()
            pids = [int(p) for p in found]
        total = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024


def uvicorn(app: str, port: int, env: dict[str, str], log: Path) -> Proc:
    command = [*web_command(app, port), "--log-level", "warning"]
    proc = Proc(pinned(command, SERVER_CORE), env, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/callbacks/probe", content=b"{}", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"{app} did not start; see {log}")


def celery_worker(app: str, concurrency: int, env: dict[str, str], log: Path) -> Proc:
    return Proc(worker_command(app, concurrency), env, log)


def celery_beat(env: dict[str, str], log: Path) -> Proc:
    schedule = log.with_suffix(".schedule")
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "beat",
        "--schedule",
        str(schedule),
        "-l",
        "WARNING",
    ]
    return Proc(command, env, log)
