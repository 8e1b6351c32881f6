"""Starting what the benchmark measures, pinned to a core where it can be."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.processes import ROOT, procfile_command

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


def uvicorn(app: str, port: int, env: dict[str, str], log: Path, *, core: int | None = SERVER_CORE) -> Proc:
    """The Procfile's ``web`` line, serving ``app``, pinned to ``core``."""
    command = [*procfile_command("web", {**env, "PORT": str(port)}, app=app), "--log-level", "warning"]
    proc = Proc(pinned(command, core), env, log)
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
    """The Procfile's ``worker`` line, running the Celery app ``app``."""
    command = procfile_command("worker", {**env, "PAYHOOK_WORKER_CONCURRENCY": str(concurrency)})
    return Proc([app if word == "workers.app" else word for word in command], env, log)


def celery_beat(env: dict[str, str], log: Path) -> Proc:
    return Proc(procfile_command("beat", {**env, "PAYHOOK_BEAT_SCHEDULE": str(log.with_suffix(".schedule"))}), env, log)
