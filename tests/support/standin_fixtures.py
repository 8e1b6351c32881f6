"""The stand-in as pytest fixtures (registered by tests/conftest.py): ``served`` starts it once per test module,
``standin`` gives each test a reset one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.standin import StandIn, serve_standin


@pytest.fixture(scope="module")
def served() -> Iterator[StandIn]:
    with serve_standin() as running, httpx.Client(base_url=running.url, timeout=10) as client:
        yield StandIn(running.url, client)


@pytest.fixture
def standin(served: StandIn) -> StandIn:
    served.http.post("/_sim/reset").raise_for_status()
    return served
