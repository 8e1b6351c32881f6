"""``payhook dev``: the whole pipeline in one command, for a laptop.

Unless ``PAYHOOK_DATABASE_URL`` and ``PAYHOOK_REDIS_URL`` say otherwise, PostgreSQL and Redis are embedded
(``shared.ops.dev.embedded``), with their data under ``--data-dir``. Then the schema is migrated and the
Procfile's ``web``, ``worker`` and ``beat`` run as child processes, beside the providers' stand-in
(``payhook simulate``) that the status clients query; every provider gets throwaway demo credentials kept in
the data folder. Ctrl-C, SIGTERM or SIGHUP stops everything this command started, and its children stop
by themselves should it be killed (``lifetime``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.db.migrate import upgrade
from shared.ops.dev.embedded import EmbeddedError, Server, owner_only, port_free, start_postgres, start_redis
from shared.ops.dev.envfile import DATABASE_VARIABLE, REDIS_VARIABLE, write_env
from shared.ops.dev.lifetime import die_with_parent
from shared.providers import demo_environment
from shared.providers._standin import client_settings
from shared.providers._standin.examples import seed_examples
from shared.settings import Settings

# In the data folder: held (flock) by the payhook dev using it, with its pid inside.
LOCK_FILE = "dev.lock"
# A Ctrl-C in development should not wait out production's drain of in-flight requests.
DEV_SHUTDOWN_GRACE_SECONDS = "0.1"


def process_commands(env: Mapping[str, str]) -> dict[str, list[str]]:
    """The Procfile's ``web``, ``worker`` and ``beat`` lines, run with this interpreter (a test holds them
    to the Procfile)."""
    python = sys.executable
    level = env.get("PAYHOOK_LOG_LEVEL", "WARNING")
    return {
        "web": [
            python, "-m", "uvicorn", "ingest.app:app", "--host", env.get("PAYHOOK_HOST", "127.0.0.1"),
            "--port", env.get("PORT", "8000"), "--loop", "uvloop",
            "--http", "ingest.protocol:GuardedHttpToolsProtocol", "--no-proxy-headers",
            "--limit-concurrency", "4096", "--timeout-keep-alive", "5", "--no-access-log",
        ],
        "worker": [
            python, "-m", "celery", "-A", "workers.app", "worker", "--loglevel", level,
            "--concurrency", env.get("PAYHOOK_WORKER_CONCURRENCY", "2"), "--without-gossip", "--without-mingle",
        ],
        "beat": [
            python, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", level,
            "--schedule", env.get("PAYHOOK_BEAT_SCHEDULE", ".celerybeat-schedule"),
        ],
    }  # fmt: skip


@dataclass(frozen=True)
class Ports:
    """Every port ``payhook dev`` listens on, each with the option that changes it."""

    web: int
    postgres: int
    redis: int
    metrics: int
    simulate: int

    def wanted(self, environ: Mapping[str, str]) -> list[tuple[str, int, str]]:
        found = [
            ("the web process", self.web, "--port"),
            ("the worker's metrics", self.metrics, "--metrics-port"),
            ("the providers' stand-in", self.simulate, "--simulate-port"),
        ]
        if not environ.get(DATABASE_VARIABLE):
            found.append(("the embedded PostgreSQL", self.postgres, "--postgres-port"))
        if not environ.get(REDIS_VARIABLE):
            found.append(("the embedded Redis", self.redis, "--redis-port"))
        return found

    def check(self, environ: Mapping[str, str]) -> None:
        """One line naming the first taken port and its option, before anything starts."""
        for what, port, option in self.wanted(environ):
            if not port_free(port):
                raise EmbeddedError(
                    f"port {port}, for {what}, is taken: stop what uses it or choose another with {option}"
                )


class StartInterrupted(Exception):
    """A stop signal came while the stack was starting."""


@dataclass
class DevStack:
    data: Path
    ports: Ports
    # Set by a stop signal's handler. Its exception alone is not enough: raised while a fork hook runs (every
    # Popen with a preexec_fn runs them), Python prints it as "ignored" and goes on, so each step checks this.
    stop_requested: bool = False
    servers: list[Server] = field(default_factory=list)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The data folder's lock (a file descriptor) while this session holds it.
    lock: int | None = None

    @property
    def keys(self) -> Path:
        return self.data / "keys"

    def environment(self) -> dict[str, str]:
        """Settings for the children: what the caller set wins over the embedded servers, the stand-in and
        the demo keys; the ports are the options'."""
        pg_password, redis_password = _secret(self.keys, "postgres-password"), _secret(self.keys, "redis-password")
        env = {
            DATABASE_VARIABLE: f"postgresql+psycopg://postgres:{pg_password}@127.0.0.1:{self.ports.postgres}/payhook",
            REDIS_VARIABLE: f"redis://:{redis_password}@127.0.0.1:{self.ports.redis}/0",
            **demo_environment(self.keys),
            # The status clients query the stand-in (and notifications are checked with it: each provider's default).
            **client_settings(self.simulate_url, self.keys),
            # Merchants' test endpoints run on this machine or its network.
            "PAYHOOK_ENDPOINT_ALLOW_PRIVATE": "true",
            "PAYHOOK_SHUTDOWN_GRACE_SECONDS": DEV_SHUTDOWN_GRACE_SECONDS,
            # The console and the admin API, with a throwaway token kept beside the demo credentials.
            "PAYHOOK_ADMIN_TOKEN": _secret(self.keys, "admin-token"),
            "PAYHOOK_BEAT_SCHEDULE": str(self.data / "beat-schedule"),
        }
        env.update({k: v for k, v in os.environ.items() if k.startswith("PAYHOOK_") and v})
        env["PAYHOOK_WORKER_METRICS_PORT"] = str(self.ports.metrics)
        env["PAYHOOK_WORKER_METRICS_HOST"] = "127.0.0.1"
        env["PORT"] = str(self.ports.web)
        return env

    @property
    def simulate_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.simulate}"

    def go_on(self) -> None:
        """Between two steps of the start: stop here if a stop signal came during the last one."""
        if self.stop_requested:
            raise StartInterrupted

    def start(self) -> dict[str, str]:
        # A data folder in use by another payhook dev says so before its ports do (the same ports, by default).
        self._claim(create=False)
        self.ports.check(os.environ)
        owner_only(self.data)
        self._claim(create=True)
        if not os.environ.get(DATABASE_VARIABLE):
            self.servers.append(start_postgres(self.data, self.ports.postgres, _secret(self.keys, "postgres-password")))
            self.go_on()
        if not os.environ.get(REDIS_VARIABLE):
            self.servers.append(start_redis(self.data, self.ports.redis, _secret(self.keys, "redis-password")))
            self.go_on()
        env = self.environment()
        write_env(self.data / "env", env)
        upgrade(Settings.from_env(env))
        logs = self.data / "logs"
        owner_only(logs)
        simulate = [sys.executable, "-m", "shared.ops.cli", "simulate", "--port", str(self.ports.simulate),
                    "--data-dir", str(self.data)]  # fmt: skip
        for name, command in {"simulate": simulate, **process_commands(env)}.items():
            self.children[name] = subprocess.Popen(
                command,
                env={**os.environ, **env},
                stdout=(logs / f"{name}.log").open("ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - no threads here
            )
            self.go_on()
        self._wait_for(f"http://127.0.0.1:{self.ports.web}/healthz", "the web process")
        self._wait_for(f"{self.simulate_url}/_sim/clock", "the providers' stand-in")
        if not self.failed():
            seed_examples(self.simulate_url)
        self.go_on()
        return env

    def _claim(self, *, create: bool) -> None:
        """Hold the data folder for this session: a lock the kernel lets go of when this process ends, however
        it ends. A second payhook dev on the same folder is one line naming the first, not PostgreSQL's log."""
        path = self.data / LOCK_FILE
        if self.lock is not None or not (create or path.exists()):
            return
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 20).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise EmbeddedError(
                f"the data folder {self.data} is in use by another payhook dev (pid {holder}): stop that one, or"
                " give this one another --data-dir"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self.lock = descriptor

    def _wait_for(self, url: str, what: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.go_on()
            if self.failed():
                return  # the caller reports it
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - http, loopback, ours
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise EmbeddedError(f"{what} did not answer at {url} in 60 s: see {self.data / 'logs'}")

    def failed(self) -> str | None:
        """The name of a child or server that exited on its own, if one did."""
        for name, child in self.children.items():
            if child.poll() is not None:
                return name
        for server in self.servers:
            if server.process is not None and server.process.poll() is not None:
                return server.name
        return None

    def stop(self) -> None:
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(5)
        for server in reversed(self.servers):
            server.stop()
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def _secret(folder: Path, name: str) -> str:
    """A generated secret kept in ``folder`` (owner-only), the same across restarts."""
    path = folder / name
    if not path.exists():
        owner_only(folder)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()
