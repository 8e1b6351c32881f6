"""The providers' stand-in as a process of its own, for the reconciliation benchmark and ``make chaos``: the
measured process and the stand-in never share an interpreter's lock, so the stand-in's counts are the
providers' view, not the benchmark's.

python -m scripts.bench.standin --port P --keys DIR

Beside the stand-in's own routes (its credentials read from the environment, as ``payhook simulate`` reads
them), ``/_bench``:

- ``POST /_bench/seed`` ``{"provider": name, "payments": [...]}``: many payments at once, each as the control
  API's ``PUT /_sim/{provider}/payments`` takes it (100,000 one by one would take minutes);
- ``GET /_bench/counts``: the API requests each provider received, per one-second window of the stand-in's
  clock (``{"pivot": {"1764690000": 50, ...}, ...}``): every request counts, token requests too, because
  payhook's rate covers every request it sends.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import uvicorn
from starlette.types import Receive, Scope, Send

from scripts.bench.procs import Proc
from shared.providers._standin import StandInConfig, create_app
from shared.providers._standin.core import ControlError
from shared.providers._standin.world import World
from tests.support.net import free_port

# The first part of an API request's path, by provider (``/midtrans-production`` is Midtrans too).
_PREFIXES = (("/pivot", "pivot"), ("/revenue-monster", "revenue-monster"), ("/midtrans", "midtrans"))


class Counted:
    """The stand-in app, counting each provider's API requests per second, with the ``/_bench`` routes."""

    def __init__(self, keys: Path) -> None:
        self.app = create_app(StandInConfig.from_env(dict(os.environ), keys))
        self.world: World = self.app.world  # type: ignore[attr-defined]
        self.counts: dict[str, Counter[int]] = {name: Counter() for _, name in _PREFIXES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/_bench/"):
                await self._bench(path, scope, receive, send)
                return
            for prefix, name in _PREFIXES:
                if path.startswith(prefix):
                    self.counts[name][int(time.time())] += 1
                    break
        await self.app(scope, receive, send)

    async def _bench(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        answer: dict[str, object] = {"error": "no such route"}
        status = 404
        if path == "/_bench/counts":
            status, answer = 200, {name: {str(k): v for k, v in c.items()} for name, c in self.counts.items()}
        elif path == "/_bench/seed" and scope["method"] == "POST":
            status, answer = self._seed(orjson.loads(await _read(receive)))
        body = orjson.dumps(answer)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _seed(self, doc: dict[str, object]) -> tuple[int, dict[str, object]]:
        provider = self.world.providers.get(str(doc.get("provider")))
        payments = doc.get("payments")
        if provider is None or not isinstance(payments, list):
            return 400, {"error": "provider and payments (a list) are required"}
        try:
            for fields in payments:
                provider.put(fields)
        except ControlError as refused:
            return refused.status, {"error": refused.message}
        return 200, {"seeded": len(payments)}


async def _read(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


def launch(env: dict[str, str], keys: Path, log: Path) -> tuple[Proc, str]:
    """This module as a process on a free loopback port, with ``env`` (the stand-in reads its credentials from
    it); the process and its URL once it answers."""
    port = free_port()
    proc = Proc([sys.executable, "-m", "scripts.bench.standin", "--port", str(port), "--keys", str(keys)], env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_bench/counts", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"the stand-in did not start; see {log}")


def seed(url: str, provider: str, payments: list[dict[str, object]]) -> None:
    for start in range(0, len(payments), 10_000):
        chunk = payments[start : start + 10_000]
        httpx.post(f"{url}/_bench/seed", json={"provider": provider, "payments": chunk}, timeout=120).raise_for_status()


def counts(url: str) -> dict[str, dict[int, int]]:
    """Each provider's requests per one-second window (Unix seconds)."""
    got = httpx.get(f"{url}/_bench/counts", timeout=30).json()
    return {name: {int(k): int(v) for k, v in windows.items()} for name, windows in got.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.standin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(Counted(args.keys), host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
