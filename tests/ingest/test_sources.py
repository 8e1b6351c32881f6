"""Per-provider source allow-lists, and X-Forwarded-For believed only from a configured trusted proxy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from shared.ops.cli import main
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import PIVOT_KEY, sample
from tests.support.net import free_port
from tests.support.processes import Stack, wait_for

pytestmark = pytest.mark.integration
# Loopback addresses only, even in headers: the client (127.0.0.1) is not allowed, 127.0.0.7 is.
ALLOWED = "127.0.0.7/32"


@pytest.fixture
def web(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., httpx.Client]]:
    stacks: list[Stack] = []
    clients: list[httpx.Client] = []

    def start(**env: str) -> httpx.Client:
        stack = Stack(env_for(settings.queue_prefix, **env), free_port(), tmp_path)
        stacks.append(stack)
        stack.web()
        client = httpx.Client(base_url=stack.url)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for stack in stacks:
        stack.stop()


def _post(http: httpx.Client, forwarded: str | None = None) -> int:
    headers = {"X-API-Key": PIVOT_KEY}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return http.post("/callbacks/pivot", content=sample("pivot.payment_paid"), headers=headers).status_code


def test_a_source_outside_the_allow_list_is_refused_and_a_forged_forwarding_header_changes_nothing(
    web: Callable[..., httpx.Client],
) -> None:
    http = web(PAYHOOK_PIVOT_ALLOWED_SOURCES=ALLOWED)
    assert _post(http) == 403
    assert _post(http, forwarded="127.0.0.7") == 403, "no trusted proxy: X-Forwarded-For is not believed"
    answer = http.post("/callbacks/pivot", content=b"{}", headers={"X-API-Key": PIVOT_KEY})
    assert answer.json()["error"] == "forbidden"
    # Revenue Monster has no allow-list here: its callbacks are judged on their signature alone.
    assert http.post("/callbacks/revenue-monster", content=b"{}").status_code == 401


def test_behind_a_trusted_proxy_the_forwarded_client_is_what_counts(web: Callable[..., httpx.Client]) -> None:
    http = web(PAYHOOK_PIVOT_ALLOWED_SOURCES=ALLOWED, PAYHOOK_TRUSTED_PROXIES="127.0.0.1/32")
    assert _post(http, forwarded="127.0.0.7") == 200
    assert _post(http, forwarded="127.0.0.9, 127.0.0.7") == 200, "the rightmost untrusted hop counts"
    assert _post(http, forwarded="127.0.0.7, 127.0.0.9") == 403, "a forged left part does not help"
    assert _post(http, forwarded="not-an-address") == 403
    assert _post(http) == 403, "the proxy itself is not an allowed source"


def _acme_and_own(env: dict[str, str], folder: Path) -> Path:
    """Two stored Pivot accounts on one callback key (the file returned): ``acme`` with no sources of its own,
    ``own`` with 127.0.0.8 only."""
    key_file = folder / "acme.key"
    key_file.write_text("acme-key-" + "a" * 24)
    for name, extra in (("acme", ()), ("own", ("allowed_sources=127.0.0.8/32",))):
        args = ["accounts", "add", "pivot", name, f"callback_key=@{key_file}", *extra]
        added = CliRunner().invoke(main, args, env=env)
        assert added.exit_code == 0, added.output
    return key_file


def test_a_stored_account_is_held_to_the_providers_sources_unless_it_names_its_own(
    web: Callable[..., httpx.Client], settings: Settings, tmp_path: Path
) -> None:
    env = env_for(settings.queue_prefix)
    key_file = _acme_and_own(env, tmp_path)
    http = web(PAYHOOK_PIVOT_ALLOWED_SOURCES=ALLOWED, PAYHOOK_TRUSTED_PROXIES="127.0.0.1/32")

    def post(route: str, forwarded: str) -> int:
        headers = {"X-API-Key": key_file.read_text(), "X-Forwarded-For": forwarded}
        return http.post(f"/callbacks/{route}", content=sample("pivot.payment_paid"), headers=headers).status_code

    # A loaded machine may keep the web process from its first load of the accounts a moment (503 till then).
    wait_for(lambda: post("pivot/acme", "127.0.0.7") != 503, 30, "the stored accounts loaded")
    assert post("pivot/acme", "127.0.0.9") == 403, "the provider's allow-list holds for its stored accounts"
    assert post("pivot/acme", "127.0.0.7") == 200
    assert post("pivot/own", "127.0.0.7") == 403, "an account's own list replaces the provider's"
    assert post("pivot/own", "127.0.0.8") == 200


def test_an_accounts_view_shows_the_providers_list_it_is_held_to(settings: Settings, tmp_path: Path) -> None:
    env = env_for(settings.queue_prefix, PAYHOOK_PIVOT_ALLOWED_SOURCES=ALLOWED)
    _acme_and_own(env, tmp_path)
    acme = json.loads(CliRunner().invoke(main, ["accounts", "show", "pivot", "acme", "--json"], env=env).stdout)
    assert acme["inherited"] == {"allowed_sources": ALLOWED}
    assert "allowed_sources" not in acme["settings"]
    own = json.loads(CliRunner().invoke(main, ["accounts", "show", "pivot", "own", "--json"], env=env).stdout)
    assert own["settings"]["allowed_sources"] == "127.0.0.8/32" and "allowed_sources" not in own["inherited"]
    shown = CliRunner().invoke(main, ["accounts", "show", "pivot", "acme"], env=env).stdout
    assert f"{ALLOWED} (the provider's)" in shown
