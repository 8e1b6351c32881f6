"""A merchant's webhook endpoint, for tests: a local HTTP server that records every request it gets and
answers as the test says (fail, hang, 410, Retry-After, redirect), and can go away and come back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook

from tests.support.net import free_port


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        document: dict[str, Any] = orjson.loads(self.body)
        return document


@dataclass(slots=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"ok"


# Decides each answer from the request and how many requests came before it.
Behaviour = Callable[[Received, int], Answer]


class Endpoint:
    def __init__(self, behaviour: Behaviour | None = None, port: int | None = None) -> None:
        self.behaviour: Behaviour = behaviour or (lambda _r, _n: Answer())
        self.port = port or free_port()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def __enter__(self) -> Endpoint:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length), time.time()
                )
                with endpoint._lock:
                    n = len(endpoint.received)
                    endpoint.received.append(request)
                answer = endpoint.behaviour(request, n)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up (a timeout): that is what the test wanted

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Go away: no listener on the port (connections are refused) until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's event, each checked with the reference Standard Webhooks verifier."""
        checker = Webhook(secret)
        return [checker.verify(r.body, r.headers) for r in self.events()]
