"""The stand-in of the providers' APIs (``payhook simulate``) for tests: served by a real uvicorn on a free
loopback port, with an HTTP client for its control API, and the settings that point payhook's clients at it."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from shared.providers._standin import StandInConfig, client_settings, create_app
from tests.support.fixtures import KEYS
from tests.support.net import free_port

PIVOT_ID = "pivot-test-merchant"
PIVOT_SECRET = "pivot-test-secret"
RM_BASIC = "Basic " + base64.b64encode(b"rm-test-client:rm-test-secret").decode()
MIDTRANS_KEY = (KEYS / "midtrans-test-server-key").read_text().strip()


class Served:
    """An ASGI app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: ASGIApp) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@dataclass
class StandIn:
    """The running stand-in and an HTTP client for it."""

    url: str
    http: httpx.Client

    def sim(self, method: str, path: str, body: Any = None) -> Any:
        """A control API call that must succeed; its JSON answer."""
        answer = self.http.request(method, f"/_sim{path}", json=body)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def pivot_token(self) -> str:
        answer = self.http.post(
            "/pivot/v1/access-token",
            headers={"X-MERCHANT-ID": PIVOT_ID, "X-MERCHANT-SECRET": PIVOT_SECRET},
            json={"grantType": "client_credentials"},
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["data"]["accessToken"]
        return token

    def rm_tokens(self) -> dict[str, Any]:
        answer = self.http.post(
            "/revenue-monster/oauth/v1/token",
            headers={"Authorization": RM_BASIC},
            json={"grantType": "client_credentials"},
        )
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens

    def requests(self, provider: str) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = self.sim("GET", f"/requests?provider={provider}")["requests"]
        return seen


def serve_standin(settings: Mapping[str, str] | None = None) -> Served:
    return Served(create_app(StandInConfig.from_env(settings or {}, KEYS)))


def api_settings(url: str) -> dict[str, str]:
    """Settings that point payhook's status clients at a stand-in served at ``url``, with its credentials, and
    Midtrans notifications verified through it."""
    return {**client_settings(url, KEYS), "PAYHOOK_MIDTRANS_VERIFY": "status-api"}
