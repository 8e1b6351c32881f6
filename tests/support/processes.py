"""The Procfile's processes, started by tests (and the bench) exactly as its lines say."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from shared.ops.dev.lifetime import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")
STOP_GRACE_SECONDS = 30.0


def procfile_command(process: str, env: Mapping[str, str], *, bin_dir: Path | None = None, **replace: str) -> list[str]:
    """The Procfile's line for ``process``, its ``${VAR:-default}`` expanded from ``env``, its program taken
    from ``bin_dir`` (default: this interpreter's environment). ``replace`` swaps arguments (``app`` for
    uvicorn's application)."""
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line)
    expanded = _DEFAULTED.sub(lambda m: env.get(m.group(1)) or m.group(2), lines[process].strip())
    words = shlex.split(expanded)
    if "app" in replace:
        words = [replace["app"] if word == "ingest.app:app" else word for word in words]
    program = (bin_dir or Path(sys.executable).parent) / words[0]
    return [str(program) if program.exists() else words[0], *words[1:]]


def with_this_test_process() -> Callable[[], None]:
    """A ``preexec_fn``: the process a test starts (in a session of its own, out of reach of a Ctrl-C) is sent
    SIGTERM should the test process die without stopping it (pytest killed, a CI timeout), instead of living on."""
    return die_with_parent(signal.SIGTERM)


def wait_for(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Stack:
    """Procfile processes of one test, each in a process group of its own, logging to ``logs``."""

    def __init__(self, env: dict[str, str], port: int, logs: Path) -> None:
        inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        self.env = {**inherited, **env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        self.port = port
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, process: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {**self.env, **env}
        log = (self.logs / f"{process}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            procfile_command(process, environment),
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=with_this_test_process(),  # noqa: PLW1509 - tests start processes from the main thread
        )
        self.procs.append(proc)
        return proc

    def web(self) -> subprocess.Popen[bytes]:
        proc = self.start("web")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"web did not start: {self.tail('web')}")

    def worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self.start("worker", PAYHOOK_WORKER_CONCURRENCY=str(concurrency), PAYHOOK_LOG_LEVEL="INFO")

    def beat(self) -> subprocess.Popen[bytes]:
        return self.start("beat", PAYHOOK_BEAT_SCHEDULE=str(self.logs / "beat-schedule"), PAYHOOK_LOG_LEVEL="INFO")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, grace: float = 10.0) -> None:
        """Signal the process and every child it forked (a Celery worker's pool), and see them all gone. One
        still there after ``grace`` seconds (a warm shutdown waits for the task in hand: long on a loaded
        machine) is killed: a process that outlives its test claims the next test's payments in the same
        database and asks a stand-in that is gone about them (a check that failed, a payment leased for a
        minute). A child still finishing after its leader exited (a pool process leaving the consumer group)
        is given the rest of the grace too."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        Stack._reap(proc, time.monotonic() + grace)

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes], deadline: float) -> None:
        """Wait for the process and its group until ``deadline``; then SIGKILL what is left."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
        while group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    @staticmethod
    def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def stop(self) -> None:
        """A clean stop of every process at once, as a deployment's SIGTERM. A worker's warm shutdown takes some
        2.5 s here (the hub's, the pool's and the tick's polling intervals) and has taken over 10 s in a loaded
        CI run: they all get STOP_GRACE_SECONDS before what is left is killed, or a worker would not leave its
        consumer group."""
        running = [proc for proc in self.procs if proc.poll() is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in running:
            # Once: a second SIGTERM ends a worker's pool process mid-batch.
            self._reap(proc, deadline)

    def tail(self, name: str) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob(f"{name}-*.log")))


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command (state, ppid, pgrp, ...); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie (whoever inherits an orphan may reap it late)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``, zombies left out."""
    return [
        int(entry.name)
        for entry in os.scandir("/proc")
        if entry.name.isdigit() and (fields := _stat(entry.name)) and fields[2] == str(pgid) and fields[0] != "Z"
    ]
