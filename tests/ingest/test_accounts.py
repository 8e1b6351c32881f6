"""The receiver's routing table: every provider's default (also as ``<provider>/default``), every enabled
account, a rotating account's old credentials accepted until the overlap ends, an account whose settings no
longer configure left out. No I/O."""

from __future__ import annotations

import time

from ingest.accounts import Routes, routes
from shared.accounts import Account
from shared.providers import all_providers, load_providers

KEY = "PAYHOOK_PIVOT_CALLBACK_KEY"
ENV = {KEY: "default-key-" + "d" * 20}


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
