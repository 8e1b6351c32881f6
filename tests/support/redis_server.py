"""A private redis-server for fault tests: its own port and folder, append-only, stopped, killed and restarted
at will. The machine's shared Redis is never touched."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from pathlib import Path

from redis import Redis

from tests.support.net import free_port


class PrivateRedis:
    def __init__(self, folder: Path, *, maxmemory: str | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.maxmemory = maxmemory
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return self.client_for(self.url)

    @staticmethod
    def client_for(url: str) -> Redis:
        return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is missing (scripts/services.sh installs it)"
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        if self.maxmemory:
            command += ["--maxmemory", self.maxmemory]
        self.process = subprocess.Popen(
            command, stdout=(self.folder / "redis.log").open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception), self.client() as probe:
                if probe.ping():
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"private redis-server did not start: {(self.folder / 'redis.log').read_text()[-1000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()
