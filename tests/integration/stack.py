"""The real processes of the Procfile, started by a test with its own settings."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import web_command, worker_command

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, env: dict[str, str], port: int, logs: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.port = port
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def _start(self, name: str, *args: str, command: list[str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            command or [sys.executable, "-m", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def web(self) -> subprocess.Popen[bytes]:
        proc = self._start("web", command=web_command("ingest.app:app", self.port))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"web did not start: {self.tail('web')}")

    def worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self._start("worker", command=worker_command("workers.app", concurrency, "INFO"))

    def beat(self) -> subprocess.Popen[bytes]:
        return self._start(
            "beat",
            "celery",
            "-A",
            "workers.app",
            "beat",
            "--schedule",
            str(self.logs / "beat-schedule"),
            "--loglevel",
            "INFO",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the process and every child it forked (a Celery worker's pool)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc, signal.SIGTERM)

    def tail(self, name: str) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob(f"{name}-*.log")))
