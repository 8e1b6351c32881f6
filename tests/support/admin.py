"""The admin API in tests: the receiver with one admin token, and a client of it. The ``admin`` fixture is
registered by tests/conftest.py; ``admin_client`` serves tests that change a setting or start it later."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.settings import Settings

TOKEN = "admin-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def admin_client(settings: Settings, *, raise_server_exceptions: bool = True, **changes: Any) -> Iterator[TestClient]:
    """The receiver (no drain messages) with the admin token, and ``changes`` to its settings."""
    chosen = dataclasses.replace(settings, admin_token=TOKEN, **changes)
    with TestClient(create_app(chosen, ring=False), raise_server_exceptions=raise_server_exceptions) as client:
        yield client


@pytest.fixture
def admin(settings: Settings) -> Iterator[TestClient]:
    with admin_client(settings) as client:
        yield client
