"""The receiver's routing table: every provider's default (also as ``<provider>/default``), every enabled
account, a rotating account's old credentials accepted until the overlap ends, an account whose settings no
longer configure left out. No I/O."""

from __future__ import annotations

import time

from ingest.accounts import RouteBuilder, Routes, routes
from shared.accounts import Account, keys
from shared.providers import all_providers, load_providers, revenue_monster
from tests.support.fixtures import KEYS, sample

KEY = "PAYHOOK_PIVOT_CALLBACK_KEY"
ENV = {KEY: "default-key-" + "d" * 20}
_RM_KEY = {"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": (KEYS / "revenue-monster-test-public.pem").read_text()}


def _account(name: str, key: str, *, enabled: bool = True, old: str | None = None, until: float = 0.0) -> Account:
    previous = None if old is None else {KEY: old}
    return Account("pivot", name, enabled, {KEY: key}, previous, until if old else None)


def _refusal(table: Routes, route: str, key: str) -> str | None:
    authenticator = table[route].authenticator
    assert authenticator is not None
    return authenticator.refusal({"x-api-key": key}, b"{}")


def test_defaults_and_enabled_accounts_are_routed() -> None:
    accounts = [_account("shop", "shop-key"), _account("off", "off-key", enabled=False)]
    table = routes(load_providers(ENV), accounts, ENV)
    assert {"pivot", "pivot/default", "pivot/shop", "midtrans", "midtrans/default"} <= set(table)
    assert "pivot/off" not in table
    assert table["pivot"] is table["pivot/default"]
    assert table["pivot/shop"].account == "shop"
    assert _refusal(table, "pivot/shop", "shop-key") is None
    assert _refusal(table, "pivot/shop", ENV[KEY]) is not None
    assert _refusal(table, "pivot", ENV[KEY]) is None


def test_an_account_is_held_to_the_providers_sources_unless_it_names_its_own() -> None:
    env = {**ENV, "PAYHOOK_PIVOT_ALLOWED_SOURCES": "127.0.0.7/32"}
    own = Account("pivot", "own", settings={KEY: "k", "PAYHOOK_PIVOT_ALLOWED_SOURCES": "127.0.0.8/32"})
    table = routes(load_providers(env), [_account("shop", "shop-key"), own], env)
    assert [str(n) for n in table["pivot/shop"].allowed_sources] == ["127.0.0.7/32"]
    assert [str(n) for n in table["pivot/own"].allowed_sources] == ["127.0.0.8/32"]


def test_a_rotation_accepts_the_old_key_until_its_overlap_ends() -> None:
    live = _account("live", "new-key", old="old-key", until=time.time() + 60)
    over = _account("over", "new-key", old="old-key", until=time.time() - 1)
    table = routes(load_providers(ENV), [live, over], ENV)
    assert _refusal(table, "pivot/live", "old-key") is None and _refusal(table, "pivot/live", "new-key") is None
    assert _refusal(table, "pivot/over", "old-key") is not None


def test_an_account_whose_settings_do_not_configure_is_left_out() -> None:
    broken = Account("revenue-monster", "broken", settings={"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": "not a pem"})
    table = routes(load_providers(ENV), [broken, _account("shop", "k")], ENV)
    assert "revenue-monster/broken" not in table and "pivot/shop" in table
    assert set(all_providers()) <= set(table)


def test_a_rebuild_keeps_the_entry_of_every_unchanged_account() -> None:
    build = RouteBuilder(load_providers(ENV), ENV)
    first = build([_account("same", "k1"), _account("moved", "k2"), _account("gone", "k3")])
    second = build([_account("same", "k1"), _account("moved", "k2-new"), _account("new", "k4")])
    assert second["pivot/same"] is first["pivot/same"]
    assert second["pivot/moved"] is not first["pivot/moved"]
    assert _refusal(second, "pivot/moved", "k2-new") is None and _refusal(second, "pivot/moved", "k2") is not None
    assert "pivot/gone" not in second and _refusal(second, "pivot/new", "k4") is None
    # An account removed and added again with its old key is made anew, not taken from a table two builds ago.
    third = build([_account("gone", "k3")])
    assert third["pivot/gone"] is not first["pivot/gone"]


def test_a_rebuild_drops_an_old_key_once_its_overlap_is_over() -> None:
    build = RouteBuilder(load_providers(ENV), ENV)
    rotating = _account("live", "new-key", old="old-key", until=time.time() + 0.2)
    first = build([rotating])
    assert _refusal(first, "pivot/live", "old-key") is None
    time.sleep(0.25)
    second = build([rotating])
    assert second["pivot/live"] is not first["pivot/live"]
    assert _refusal(second, "pivot/live", "old-key") is not None and _refusal(second, "pivot/live", "new-key") is None


def test_an_account_that_stops_configuring_is_dropped_at_the_next_build() -> None:
    build = RouteBuilder(load_providers(ENV), ENV)
    assert "revenue-monster/shop" in build([Account("revenue-monster", "shop", settings=_RM_KEY)])
    broken = Account("revenue-monster", "shop", settings={"PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": "not a pem"})
    assert "revenue-monster/shop" not in build([broken])


def test_two_revenue_monster_accounts_on_one_server_key_take_only_their_own_stores() -> None:
    """Revenue Monster signs every merchant's notifications with one server key: with ``store_ids`` a genuine
    notification of one merchant's store is refused on another merchant's route."""
    assert "store_ids" in keys(all_providers()["revenue-monster"])
    body = sample("revenue-monster.payment_web_online")  # store 2551293210619662240
    headers = {k.lower(): v for k, v in revenue_monster.sign_headers(body, revenue_monster.test_key(KEYS)).items()}
    store = "PAYHOOK_REVENUE_MONSTER_STORE_IDS"
    env = {**ENV, **_RM_KEY, store: "2551293210619662240"}  # the default account's own stores
    mine = Account("revenue-monster", "mine", settings={**_RM_KEY, store: "2551293210619662240"})
    theirs = Account("revenue-monster", "theirs", settings={**_RM_KEY, store: "777"})
    open_ = Account("revenue-monster", "open", settings=_RM_KEY)  # names no store: takes any
    table = routes(load_providers(env), [mine, theirs, open_], env)

    def refusal(route: str) -> str | None:
        authenticator = table[route].authenticator
        assert authenticator is not None
        return authenticator.refusal(headers, body)

    assert refusal("revenue-monster") is None and refusal("revenue-monster/mine") is None
    assert refusal("revenue-monster/open") is None  # the default's stores are not inherited
    assert "is not one of this account's (store_ids)" in (refusal("revenue-monster/theirs") or "")
