from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.settings import Settings


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    """The receiver on the real Redis (no drain messages: tests drain in-process)."""
    with TestClient(create_app(settings, ring=False)) as client:
        yield client
