"""Shared fixtures. Integration tests use a database of their own (``payhook_test``) on the machine's
PostgreSQL, truncated between tests, and a Redis key prefix of their own per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from sqlalchemy import Engine, make_url, text
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.db.engine import make_engine
from shared.db.migrate import upgrade
from shared.providers._standin import NOWHERE
from shared.settings import Settings
from tests.support.fixtures import credentials


def _database_url() -> str:
    """The test database; under pytest-xdist each worker process has its own (``payhook_test_gw0``, ...)."""
    url = make_url(
        os.environ.get("PAYHOOK_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_test")
    )
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = url.set(database=f"{url.database}_{worker}")
    return url.render_as_string(hide_password=False)


BASE_DATABASE_URL = _database_url()

# The stand-in of the providers' APIs as fixtures (``served``, ``standin``), for every test that needs it.
pytest_plugins = ["tests.support.admin", "tests.support.standin_fixtures"]
REDIS_URL = os.environ.get("PAYHOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--containers",
        action="store_true",
        help="also run the tests that build payhook's image and start containers (make test-image, test-compose)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``containers`` take minutes and install podman: only their own make targets run them."""
    if config.getoption("--containers"):
        return
    skip = pytest.mark.skip(reason="builds the image and starts containers: make test-image / make test-compose")
    for item in items:
        if item.get_closest_marker("containers") is not None:
            item.add_marker(skip)


def env_for(prefix: str, **overrides: str) -> dict[str, str]:
    """Settings of a test: its own Redis prefix, every provider configured with the test credentials."""
    env = {
        "PAYHOOK_DATABASE_URL": BASE_DATABASE_URL,
        "PAYHOOK_REDIS_URL": REDIS_URL,
        "PAYHOOK_QUEUE_PREFIX": prefix,
        **credentials(),
        # No test reaches a provider: Midtrans's status API (configured by its server key) points where nothing
        # listens, and its notifications are applied on their word unless a test asks for Get Status.
        "PAYHOOK_MIDTRANS_API_URL": NOWHERE,
        "PAYHOOK_MIDTRANS_VERIFY": "off",
        "PAYHOOK_CLAIM_TIMEOUT_SECONDS": "2",
        "PAYHOOK_DRAIN_BUDGET_SECONDS": "5",
        # Tests deliver to endpoints on loopback; the tests of the refusal turn this off.
        "PAYHOOK_ENDPOINT_ALLOW_PRIVATE": "true",
        # The CLI's tables take the terminal's width: tests read them whole.
        "COLUMNS": "240",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def database() -> str:
    """A migrated test database (`payhook migrate` creates it if missing)."""
    upgrade(Settings.from_env(env_for("payhook-migrate")))
    return BASE_DATABASE_URL


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"payhook-test-{uuid.uuid4().hex[:12]}"
    yield name
    redis = Redis.from_url(REDIS_URL)
    for key in redis.scan_iter(f"{name}:*"):
        redis.delete(key)
    redis.close()


@pytest.fixture
def settings(database: str, prefix: str) -> Settings:
    # Its own engine bounds a statement by a third of the claim timeout: the tests' 2 s gives TRUNCATE 0.67 s,
    # which ten tables overrun on a loaded machine (a statement-timeout error at setup). 30 s gives it 10 s.
    engine = make_engine(Settings.from_env(env_for(prefix, PAYHOOK_CLAIM_TIMEOUT_SECONDS="30")), pool_size=1)
    _truncate(engine)
    engine.dispose()
    return Settings.from_env(env_for(prefix))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def redis(settings: Settings) -> Iterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    client.close()


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    """The receiver on the real Redis (no drain messages: tests drain in-process)."""
    with TestClient(create_app(settings, ring=False)) as client:
        yield client


TABLES = (
    "accounts",
    "payment_checks",
    "payment_events",
    "payments",
    "dead_letters",
    "spooled_callbacks",
    "delivery_attempts",
    "deliveries",
    "endpoints",
    "outbox_events",
    "audit_log",
    "operator_jobs",
    "minute_figures",
)


def _truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        # The settings' statement timeout (a fraction of the claim timeout) is for the pipeline's statements; a
        # TRUNCATE waits for the previous test's connections to finish, which on a loaded machine takes longer.
        conn.execute(text("SET LOCAL statement_timeout = '60s'; SET LOCAL lock_timeout = '60s'"))
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
