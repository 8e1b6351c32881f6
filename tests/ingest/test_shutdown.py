"""SIGTERM to the web process: readiness turns 503 at once, every request that still reaches it is answered
(with ``Connection: close``) during the grace period, idle keep-alive connections included; then it stops."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from redis import Redis

from shared.queue import QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import PIVOT_KEY, sample
from tests.support.net import free_port, read_response
from tests.support.processes import Stack

pytestmark = pytest.mark.integration
GRACE = 2.0
BODY = sample("pivot.payment_paid")


def _request() -> bytes:
    head = (
        f"POST /callbacks/pivot HTTP/1.1\r\nHost: x\r\nX-API-Key: {PIVOT_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


def _ask(sock: socket.socket) -> int:
    sock.sendall(_request())
    return read_response(sock)[0]


def test_sigterm_keeps_answering_for_the_grace_period_then_stops(
    settings: Settings, redis: Redis, tmp_path: Path
) -> None:
    stack = Stack(env_for(settings.queue_prefix, PAYHOOK_SHUTDOWN_GRACE_SECONDS=str(GRACE)), free_port(), tmp_path)
    web = stack.web()
    idle = [socket.create_connection(("127.0.0.1", stack.port), timeout=5) for _ in range(4)]
    for sock in idle:  # each connection answered once and left idle, kept alive
        assert _ask(sock) == 200
    answered: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=stack.url, timeout=5) as http:
            while not stop.is_set():
                try:
                    answer = http.post("/callbacks/pivot", content=BODY, headers={"X-API-Key": PIVOT_KEY})
                except httpx.ConnectError:
                    return  # the listener is gone: the grace period is over
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
                answered.append(answer.status_code)

    sigterm_at = time.monotonic()
    web.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert httpx.get(f"{stack.url}/readyz").status_code == 503, "readiness turns 503 at once"
    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(GRACE / 2)
    for sock in idle:  # a request written on an idle keep-alive connection during the grace period
        sock.sendall(_request())
        sock.settimeout(5)
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        assert b"connection: close" in head.lower()
        sock.close()
    assert web.wait(GRACE + 10) is not None, "the process stops after the grace period"
    stop.set()
    loader.join(10)
    assert not failures, failures
    assert answered and set(answered) == {200}
    stopped_after = time.monotonic() - sigterm_at
    assert stopped_after >= GRACE, f"stopped {stopped_after:.1f} s after SIGTERM"
    queued = redis.xlen(QueueKeys(settings.queue_prefix).stream)
    assert queued == len(idle) * 2 + len(answered), "every 200 is in the stream"
