"""``payhook dev``: the whole pipeline in one command, for a laptop.

Unless ``PAYHOOK_DATABASE_URL`` and ``PAYHOOK_REDIS_URL`` say otherwise, PostgreSQL and Redis are embedded
(``shared.ops.dev.embedded``), with their data under ``--data-dir``. Then the schema is migrated and the
Procfile's ``web``, ``worker`` and ``beat`` run as child processes; every provider gets throwaway demo
credentials kept in the data folder. Ctrl-C or SIGTERM stops everything this command started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.db.migrate import upgrade
from shared.ops.dev.embedded import EmbeddedError, Server, port_free, start_postgres, start_redis
from shared.providers import all_providers, demo_environment
from shared.settings import Settings

DATABASE_VARIABLE, REDIS_VARIABLE = "PAYHOOK_DATABASE_URL", "PAYHOOK_REDIS_URL"


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


@dataclass
class DevStack:
    data: Path
    port: int
    postgres_port: int
    redis_port: int
    servers: list[Server] = field(default_factory=list)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """Settings for the children: what the caller set wins over the embedded servers and demo keys."""
        env = {
            DATABASE_VARIABLE: f"postgresql+psycopg://postgres@127.0.0.1:{self.postgres_port}/payhook",
            REDIS_VARIABLE: f"redis://127.0.0.1:{self.redis_port}/0",
            **demo_environment(self.data / "keys"),
            # The console and the admin API, with a throwaway token kept beside the demo credentials.
            "PAYHOOK_ADMIN_TOKEN": _admin_token(self.data / "keys"),
            "PAYHOOK_BEAT_SCHEDULE": str(self.data / "beat-schedule"),
        }
        env.update({k: v for k, v in os.environ.items() if k.startswith("PAYHOOK_") and v})
        env["PORT"] = str(self.port)
        return env

    def check_ports(self) -> None:
        wanted = [("the web process", self.port, "--port")]
        if not os.environ.get(DATABASE_VARIABLE):
            wanted.append(("the embedded PostgreSQL", self.postgres_port, "--postgres-port"))
        if not os.environ.get(REDIS_VARIABLE):
            wanted.append(("the embedded Redis", self.redis_port, "--redis-port"))
        for what, port, option in wanted:
            if not port_free(port):
                raise EmbeddedError(
                    f"port {port}, for {what}, is taken: stop what uses it or choose another with {option}"
                )

    def start(self) -> dict[str, str]:
        self.data.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        if not os.environ.get(DATABASE_VARIABLE):
            self.servers.append(start_postgres(self.data, self.postgres_port))
        if not os.environ.get(REDIS_VARIABLE):
            self.servers.append(start_redis(self.data, self.redis_port))
        env = self.environment()
        upgrade(Settings.from_env(env))
        logs = self.data / "logs"
        logs.mkdir(exist_ok=True)
        for name, command in process_commands(env).items():
            self.children[name] = subprocess.Popen(
                command,
                env={**os.environ, **env},
                stdout=(logs / f"{name}.log").open("ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_web()
        return env

    def _wait_for_web(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.failed():
                return  # the caller reports it
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise EmbeddedError(f"the web process did not answer on port {self.port} in 60 s: see {self.data / 'logs'}")

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


def _admin_token(folder: Path) -> str:
    path = folder / "admin-token"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def banner(stack: DevStack, env: Mapping[str, str]) -> Iterator[str]:
    """What the developer needs: the URL, the settings, a ready-to-paste curl per provider."""
    url = f"http://127.0.0.1:{stack.port}"
    examples = stack.data / "examples"
    examples.mkdir(exist_ok=True)
    yield f"payhook dev: serving {url}  (data in {stack.data}, logs in {stack.data / 'logs'}; Ctrl-C stops)"
    yield f"console: {url}/console  (sign in with PAYHOOK_ADMIN_TOKEN below)"
    yield ""
    yield "settings (throwaway demo credentials, kept in the data folder):"
    shown = {k: v for k, v in env.items() if k.startswith("PAYHOOK_") and "\n" not in v}
    for name, value in sorted(shown.items()):
        yield f"  {name}={value}"
    for name in sorted(k for k, v in env.items() if k.startswith("PAYHOOK_") and "\n" in v):
        yield f"  {name}=(the public key of the throwaway key pair in {stack.data / 'keys'})"
    yield ""
    yield "in another shell, to use the payhook command against this stack:"
    yield f"  export {DATABASE_VARIABLE}={env[DATABASE_VARIABLE]} {REDIS_VARIABLE}={env[REDIS_VARIABLE]}"
    yield ""
    yield "send each provider's example callback:"
    for provider in all_providers().values():
        signer = provider.test_signer(stack.data / "keys")
        body, headers = signer.sign(provider.samples()[provider.example])
        path = examples / f"{provider.name}.json"
        path.write_bytes(body)
        event = provider.normalize(body)
        parts = ["curl", "-s", f"{url}/callbacks/{provider.name}"]
        for name, value in headers.items():
            parts += ["-H", f"{name}: {value}"]
        yield f"  {shlex.join([*parts, '--data-binary', f'@{path}'])}"
        if event is not None and event.order_ref:
            yield f"  payhook payments show {provider.name} {event.order_ref}"


def run(data: Path, port: int, postgres_port: int, redis_port: int) -> int:
    stack = DevStack(data.resolve(), port, postgres_port, redis_port)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        env = stack.start()
        for line in banner(stack, env):
            print(line, flush=True)
        while not stopping:
            failed = stack.failed()
            if failed:
                print(f"payhook dev: {failed} exited; stopping (see {stack.data / 'logs'})", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print("payhook dev: stopping", flush=True)
        return 0
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
