"""Building and stopping the web app (ingest/server.py), on the real PostgreSQL and Redis."""

from __future__ import annotations

import dataclasses
import gc
import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.db import accounts as accounts_repo
from shared.settings import Settings

pytestmark = pytest.mark.integration

TOKEN = "server-test-token"


def _connections(engine: Engine) -> int:
    """Connections to the test database other than this test's own."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )


def test_a_stopped_app_leaves_no_database_connection_behind(settings: Settings, engine: Engine) -> None:
    """Regression: every app held the connections of its scrape, its accounts loader and its operator service
    after it stopped, and the lifespan's ``gc.freeze()`` kept them from ever being collected: a test run of many
    apps ran PostgreSQL out of connections ("sorry, too many clients already")."""
    before = _connections(engine)
    admin = dataclasses.replace(settings, admin_token=TOKEN)
    for _ in range(3):
        with TestClient(create_app(admin, ring=False)) as client:
            assert client.get("/metrics").status_code == 200
            letters = client.get("/admin/dead-letters", headers={"Authorization": f"Bearer {TOKEN}"})
            assert letters.status_code == 200, letters.text
            assert client.get("/console/sign-in").status_code == 200
    # A closed connection's backend leaves pg_stat_activity a moment after the client has gone: a leak stays.
    deadline = time.monotonic() + 15
    while _connections(engine) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _connections(engine) <= before


def test_the_accounts_loaded_at_start_are_kept_from_the_cyclic_collector(settings: Settings, engine: Engine) -> None:
    """The stored accounts are loaded before the app freezes what it built (``gc.freeze``), so that full
    collections do not walk the routing table (tens of thousands of objects with many accounts); a reload keeps
    every unchanged entry, frozen as it was."""
    with Session(engine) as session, session.begin():
        accounts_repo.add(session, "pivot", "shop", {"PAYHOOK_PIVOT_CALLBACK_KEY": "shop-key"}, settings.sealer)
    app = create_app(settings, ring=False)
    with TestClient(app):
        entry = app.callbacks.routes["pivot/shop"]
        assert not any(tracked is entry for tracked in gc.get_objects())
        assert app.callbacks.routes["pivot"] is not None
    # Stopped: the app gives back what it froze.
    assert any(tracked is entry for tracked in gc.get_objects())


def test_an_account_route_is_503_not_404_until_the_accounts_could_be_loaded(settings: Settings) -> None:
    """PostgreSQL unreachable when the process starts: an account's route is not known to be unknown yet, and a
    404 would tell the provider to stop retrying. The default's route is served from the settings meanwhile."""
    unreachable = dataclasses.replace(settings, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    with TestClient(create_app(unreachable, ring=False)) as web:
        waiting = web.post("/callbacks/pivot/acme", content=b"{}", headers={"X-API-Key": "k"})
        assert waiting.status_code == 503 and waiting.headers["retry-after"] == "5", waiting.text
        assert web.post("/callbacks/stripe/acme", content=b"{}").status_code == 404
    with TestClient(create_app(settings, ring=False)) as web:
        assert web.post("/callbacks/pivot/nobody", content=b"{}").status_code == 404
