"""The console's fixture: the web app with an admin token named alice, a browser that follows no redirect."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.settings import Settings

TOKENS = (("alice", "alice-console-token"),)


@pytest.fixture
def console(settings: Settings) -> Iterator[TestClient]:
    app = create_app(dataclasses.replace(settings, admin_tokens=TOKENS), ring=False)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client
