"""The receiver alone, over fakeredis: what is queued, what is refused, and with which status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import fakeredis
import orjson
import pytest
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.support.fixtures import PIVOT_KEY, credentials, sample, signed
from tests.support.net import free_port

KEYS_ = QueueKeys("payhook")


def _settings(**extra: str) -> Settings:
    env = {**credentials(), "PAYHOOK_MAX_BODY_BYTES": "4096"}
    env.update(extra)
    return Settings.from_env(env)


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def fake(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=server)


@pytest.fixture
def client(server: fakeredis.FakeServer) -> Iterator[TestClient]:
    aio = fakeredis.FakeAsyncRedis(server=server)
    with TestClient(create_app(_settings(), aio, ring=False)) as c:
        yield c


def _queued(fake: fakeredis.FakeRedis) -> list[QueuedCallback]:
    return [QueuedCallback.decode(fields) for _id, fields in cast(Any, fake.xrange(KEYS_.stream))]


def test_authenticated_pivot_callback_is_queued_unmodified(client: TestClient, fake: fakeredis.FakeRedis) -> None:
    body = sample("pivot.payment_paid")
    response = client.post(
        "/callbacks/pivot", content=body, headers={"X-API-Key": PIVOT_KEY, "Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    [queued] = _queued(fake)
    assert queued.body == body
    assert queued.provider == "pivot"
    assert queued.headers == {"content-type": "application/json"}
    assert queued.received_at > 0
    assert fake.get(KEYS_.drain_bell_key(0)) == b"1"


def test_signed_revenue_monster_callback_is_queued_with_its_signature_headers(
    client: TestClient, fake: fakeredis.FakeRedis
) -> None:
    body, headers = signed("revenue-monster", sample("revenue-monster.payment_web_online"))
    response = client.post("/callbacks/revenue-monster", content=body, headers=headers)
    assert response.status_code == 200
    [queued] = _queued(fake)
    assert queued.body == body
    assert queued.headers["x-signature"] == headers["X-Signature"]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/callbacks/pivot", {}),
        ("/callbacks/pivot", {"X-API-Key": "wrong"}),
        (
            "/callbacks/revenue-monster",
            {"X-Signature": "sha256 AAAA", "X-Nonce-Str": "n", "X-Timestamp": "1"},
        ),
        ("/callbacks/revenue-monster", {}),
    ],
)
def test_unauthenticated_callbacks_get_401_and_queue_nothing(
    client: TestClient, fake: fakeredis.FakeRedis, path: str, headers: dict[str, str]
) -> None:
    response = client.post(path, content=sample("revenue-monster.payment_web_online"), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert _queued(fake) == []


def test_oversized_body_gets_413_declared_or_chunked(client: TestClient, fake: fakeredis.FakeRedis) -> None:
    big = b"{" + b" " * 5000 + b"}"
    declared = client.post("/callbacks/pivot", content=big, headers={"X-API-Key": PIVOT_KEY})
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1000

    chunked = client.post("/callbacks/pivot", content=chunks(), headers={"X-API-Key": PIVOT_KEY})
    assert chunked.status_code == 413
    assert chunked.json()["error"] == "too_large"
    assert _queued(fake) == []


def test_unconfigured_provider_gets_503(server: fakeredis.FakeServer, fake: fakeredis.FakeRedis) -> None:
    aio = fakeredis.FakeAsyncRedis(server=server)
    with TestClient(create_app(Settings.from_env({}), aio, ring=False)) as c:
        response = c.post("/callbacks/pivot", content=b"{}", headers={"X-API-Key": "x"})
    assert response.status_code == 503
    assert response.json()["error"] == "not_configured"
    assert _queued(fake) == []


def test_unreachable_redis_gives_503_not_200() -> None:
    settings = _settings(PAYHOOK_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings, ring=False)) as c:
        response = c.post("/callbacks/pivot", content=sample("pivot.payment_paid"), headers={"X-API-Key": PIVOT_KEY})
        ready = c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert ready.status_code == 503


def test_health_metrics_registration_check_and_unknown_paths(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/callbacks/pivot").status_code == 200
    client.post("/callbacks/pivot", content=b"{}", headers={"X-API-Key": "nope"})
    metrics = client.get("/metrics").text
    assert 'payhook_callbacks_total{provider="pivot",result="unauthorized"} 1.0' in metrics
    missing = client.post("/callbacks/stripe", content=b"{}")
    assert missing.status_code == 404
    assert orjson.loads(missing.content)["error"] == "not_found"
    assert client.get("/nothing/here").json()["error"] == "not_found"


def test_openapi_describes_admin_paths_only_when_the_admin_api_is_on(server: fakeredis.FakeServer) -> None:
    def paths(**extra: str) -> dict[str, Any]:
        aio = fakeredis.FakeAsyncRedis(server=server)
        with TestClient(create_app(_settings(**extra), aio, ring=False)) as c:
            return cast(dict[str, Any], c.get("/openapi.json").json()["paths"])

    off = paths()
    assert "/callbacks/pivot" in off and not [p for p in off if p.startswith("/admin")]
    on = paths(PAYHOOK_ADMIN_TOKEN="admin-test-token")
    assert "/admin/endpoints" in on
    # Every operation that takes a body may meet the admin API's body cap.
    assert "413" in on["/admin/endpoints"]["post"]["responses"]
    assert "413" in on["/admin/accounts"]["post"]["responses"]
