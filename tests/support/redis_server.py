"""A private redis-server for fault tests: its own port and folder, append-only, stopped, killed and restarted
at will. The machine's shared Redis is never touched."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from redis import Redis

from tests.support.net import free_port
from tests.support.processes import with_this_test_process


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
            command,
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=with_this_test_process(),  # noqa: PLW1509 - tests start processes from the main thread
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


class Monitor:
    """Every command a Redis server runs, scripts' own included, as the server's MONITOR reports it: read by a
    thread into ``commands`` (each a list of its words) until the ``with`` block ends. Meant for a private
    server: it sees every client's traffic."""

    _WORD = re.compile(rb'"((?:[^"\\]|\\.)*)"')

    def __init__(self, port: int) -> None:
        self.commands: list[list[str]] = []
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._lines = self._socket.makefile("rb")
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Monitor:
        self._socket.sendall(b"MONITOR\r\n")
        assert self._lines.readline() == b"+OK\r\n"
        self._socket.settimeout(None)  # a quiet spell is no error: the reader waits until the block ends
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        # Shutting the socket down ends the reader's last read: every command read so far is kept.
        self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._lines.close()
        self._socket.close()

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            for line in self._lines:
                words = [w.decode("unicode_escape") for w in self._WORD.findall(line)]
                if words:
                    self.commands.append(words)
