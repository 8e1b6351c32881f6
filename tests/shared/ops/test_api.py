"""The admin API's gate (``shared.ops.api``): the bearer token before any routing, each named token its own
actor, no admin API at all without a token. The admin API alone, mounted in a Starlette app of the test's
own, on the real PostgreSQL; status codes only (the documents are the routes' own tests)."""

from __future__ import annotations

import dataclasses

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from shared.ops.api import AdminApi
from shared.settings import Settings

pytestmark = pytest.mark.integration
ANA, BO = "token-of-ana-" + "a" * 24, "token-of-bo-" + "b" * 24


def _api(settings: Settings, tokens: tuple[tuple[str, str], ...], legacy: str | None = None) -> AdminApi:
    return AdminApi(dataclasses.replace(settings, admin_tokens=tokens, admin_token=legacy))


def test_each_named_token_is_its_actor_and_nothing_else_is(settings: Settings) -> None:
    api = _api(settings, (("ana", ANA), ("bo", BO)), "legacy-" + "c" * 24)
    assert api.actor(f"Bearer {ANA}") == "ana" and api.actor(f"Bearer {BO}") == "bo"
    assert api.actor("Bearer legacy-" + "c" * 24) == "admin"
    assert api.actor(f"bearer {ANA}") == "ana"  # the scheme's name is case-insensitive
    for wrong in (ANA, f"Bearer {ANA[:-1]}", f"Basic {ANA}", "", "Bearer ", f"Bearer {ANA} "):
        assert api.actor(wrong) is None


def test_without_a_token_nothing_shows_and_with_one_the_routes_answer(settings: Settings) -> None:
    api = _api(settings, (("ana", ANA),))
    with TestClient(Starlette(routes=[api.mount()])) as client:
        assert client.get("/admin/dead-letters").status_code == 401
        assert client.get("/admin/no-such-path").status_code == 401  # no routing before the token
        assert client.get("/admin/no-such-path", headers={"Authorization": f"Bearer {ANA}"}).status_code == 404
        listed = client.get("/admin/dead-letters", headers={"Authorization": f"Bearer {ANA}"})
        assert listed.status_code == 200
        bad = client.get("/admin/dead-letters?since=yesterday", headers={"Authorization": f"Bearer {ANA}"})
        assert bad.status_code == 400
    closed = _api(settings, ())
    with TestClient(Starlette(routes=[closed.mount()])) as client:
        assert client.get("/admin/dead-letters", headers={"Authorization": f"Bearer {ANA}"}).status_code == 404
