"""Helpers the tests share: sample bodies, signing like Revenue Monster, a small TCP proxy."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

import redis.exceptions
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.gojson import canonical_json
from shared.providers.revenue_monster import signing_string
from shared.settings import Settings
from workers.context import WorkerContext
from workers.drain import Drain
from workers.maintenance import queue_stats
from workers.pipeline import Report

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = FIXTURES / "samples"
KEYS = FIXTURES / "keys"
PIVOT_KEY = "test-pivot-key"


def web_command(app: str, port: int) -> list[str]:
    """uvicorn serving ``app`` with the options of the Procfile's ``web`` line."""
    return [
        sys.executable, "-m", "uvicorn", app, "--port", str(port), "--loop", "uvloop",
        "--http", "ingest.protocol:GuardedHttpToolsProtocol", "--no-proxy-headers", "--no-access-log",
    ]  # fmt: skip


def worker_command(app: str, concurrency: int, loglevel: str = "WARNING") -> list[str]:
    """A Celery worker with the options of the Procfile's ``worker`` line."""
    return [
        sys.executable, "-m", "celery", "-A", app, "worker", "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--loglevel", loglevel,
    ]  # fmt: skip


def json_depth(value: object) -> int:
    """How deeply a parsed JSON value nests (a scalar is 0)."""
    if isinstance(value, list):
        return 1 + max((json_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((json_depth(item) for item in value.values()), default=0)
    return 0


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.json").read_bytes()


def fixture_private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((KEYS / "revenue-monster-test-private.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def rm_headers(
    body: bytes, key: rsa.RSAPrivateKey, *, nonce: str | None = None, stamp: str | None = None
) -> dict[str, str]:
    """Headers Revenue Monster would send with ``body``, signed with ``key``."""
    nonce = nonce or secrets.token_hex(16)
    stamp = stamp or str(int(time.time()))
    signature = key.sign(signing_string(canonical_json(body), nonce, stamp), padding.PKCS1v15(), hashes.SHA256())
    return {
        "Content-Type": "application/json",
        "X-Signature": "sha256 " + base64.b64encode(signature).decode(),
        "X-Nonce-Str": nonce,
        "X-Timestamp": stamp,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """Forwards a local port to ``target``; ``cut()`` drops every connection and refuses new ones until
    ``restore()``. Fault tests point a client at it instead of stopping the machine's shared services."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._closing = False
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TcpProxy:
        self._listen()
        return self

    def __exit__(self, *_: object) -> None:
        self._closing = True
        self.cut()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Every open connection is reset and the port refuses connections."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not on Linux.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        if self._listener is None and not self._closing:
            self._listen()


def drain_all(settings: Settings, *, timeout: float = 60.0) -> Report:
    """Run drains in this process until nothing is queued or in flight (what a worker does, minus Celery)."""
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    total = Report()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            total.add(Drain(ctx, lambda _slot: None).run(0))
            try:
                stats = queue_stats(ctx.redis, ctx.keys)
            except redis.exceptions.ConnectionError:
                continue  # a fault test cut Redis: the next drain retries until it is back
            if stats.queued == 0 and stats.in_flight == 0:
                return total
            time.sleep(0.05)
    finally:
        ctx.close()
    raise AssertionError(f"queue did not drain in {timeout}s")
