"""Merchant accounts as data: the setting names operators use, what an account inherits from the environment,
secrets shown only by fingerprint, account names fit for URLs and queue entries. No I/O."""

from __future__ import annotations

import pytest

from shared.accounts import (
    Account,
    AccountError,
    Environs,
    check_name,
    environ_for,
    fingerprint,
    is_credential,
    keys,
    parse_settings,
    shown,
)
from shared.providers import all_providers

PIVOT = all_providers()["pivot"]


def test_keys_are_the_providers_variables_by_their_short_names() -> None:
    known = keys(PIVOT)
    assert known["callback_key"] == "PAYHOOK_PIVOT_CALLBACK_KEY"
    assert known["allowed_sources"] == "PAYHOOK_PIVOT_ALLOWED_SOURCES"
    assert not any(variable.endswith("_FILE") for variable in known.values())


def test_settings_by_short_name_and_unknown_ones_refused_naming_the_known() -> None:
    assert parse_settings(PIVOT, {"callback_key": "k"}) == {"PAYHOOK_PIVOT_CALLBACK_KEY": "k"}
    with pytest.raises(AccountError, match="callback_key"):
        parse_settings(PIVOT, {"password": "x"})


def test_an_account_inherits_everything_but_the_providers_credentials() -> None:
    """The sources the provider sends from are the provider's, not a merchant's: an account is held to them
    unless it names its own."""
    base = {
        "PAYHOOK_PIVOT_CALLBACK_KEY": "default-key",
        "PAYHOOK_PIVOT_ALLOWED_SOURCES": "127.0.0.1/32",
        "PAYHOOK_PIVOT_API_URL": "http://127.0.0.1:9",
        "PAYHOOK_MIDTRANS_SERVER_KEY": "other provider",
    }
    env = environ_for(base, PIVOT, {"PAYHOOK_PIVOT_CALLBACK_KEY": "shop-key"})
    assert env == {
        "PAYHOOK_PIVOT_CALLBACK_KEY": "shop-key",
        "PAYHOOK_PIVOT_ALLOWED_SOURCES": "127.0.0.1/32",
        "PAYHOOK_PIVOT_API_URL": "http://127.0.0.1:9",
        "PAYHOOK_MIDTRANS_SERVER_KEY": "other provider",
    }
    own = environ_for(base, PIVOT, {"PAYHOOK_PIVOT_CALLBACK_KEY": "k", "PAYHOOK_PIVOT_ALLOWED_SOURCES": "127.0.0.2/32"})
    assert own["PAYHOOK_PIVOT_ALLOWED_SOURCES"] == "127.0.0.2/32"
    emptied = environ_for(base, PIVOT, {"PAYHOOK_PIVOT_CALLBACK_KEY": "k", "PAYHOOK_PIVOT_ALLOWED_SOURCES": " "})
    assert emptied["PAYHOOK_PIVOT_ALLOWED_SOURCES"] == "127.0.0.1/32", "an empty list is not 'any source'"


def test_secrets_are_shown_by_fingerprint_only() -> None:
    view = shown(PIVOT, {"PAYHOOK_PIVOT_CALLBACK_KEY": "s3cret", "PAYHOOK_PIVOT_API_URL": "http://127.0.0.1:9"})
    assert view == {"api_url": "http://127.0.0.1:9", "callback_key": fingerprint("s3cret")}
    assert fingerprint("s3cret") != fingerprint("s3cret2") and "s3cret" not in fingerprint("s3cret")
    assert is_credential("merchant_id") and not is_credential("allowed_sources") and not is_credential("api_url")


@pytest.mark.parametrize("name", ["shop", "a", "shop-1.eu_2", "x" * 40])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Shop", "-shop", "x" * 41, "a/b", "a b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(AccountError):
        check_name(name)


@pytest.mark.parametrize(
    ("name", "said"),
    [("a" * 300, "not '" + "a" * 40 + "'... (300 characters)"), ("café", "ASCII letters"), ("a/b", "not 'a/b'")],
)
def test_a_bad_name_is_refused_saying_what_is_wrong_with_it(name: str, said: str) -> None:
    with pytest.raises(AccountError) as refused:
        check_name(name)
    assert said in str(refused.value) and len(str(refused.value)) < 200


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("callbak_key", "not callbak_key (did you mean callback_key?)"),
        ("payhook_pivot_callback_key", "not payhook_pivot_callback_key (did you mean callback_key?)"),
        ("colour", "; not colour"),
    ],
)
def test_an_unknown_setting_is_refused_naming_the_one_it_was_meant_to_be(given: str, said: str) -> None:
    with pytest.raises(AccountError) as refused:
        parse_settings(all_providers()["pivot"], {given: "x"})
    assert str(refused.value).endswith(said), str(refused.value)
    assert "callback_key" in str(refused.value).split(";")[0]


def test_routes_and_rotations() -> None:
    assert Account("pivot", "default").route == "pivot"
    assert Account("pivot", "shop").route == "pivot/shop"
    rotating = Account("pivot", "shop", previous={"k": "v"}, previous_until=100.0)
    assert rotating.previous_valid(99.0) and not rotating.previous_valid(100.0)
    assert not Account("pivot", "shop").previous_valid(0.0)


def test_environs_give_each_enabled_account_its_environment() -> None:
    base = {"PAYHOOK_PIVOT_CALLBACK_KEY": "default-key"}
    shop = Account("pivot", "shop", settings={"PAYHOOK_PIVOT_CALLBACK_KEY": "shop-key"})
    off = Account("pivot", "off", enabled=False, settings={"PAYHOOK_PIVOT_CALLBACK_KEY": "off-key"})
    environs = Environs.of_accounts(base, [shop, off])
    assert environs.environ(PIVOT, "default") == base
    assert environs.environ(PIVOT, "shop") == {"PAYHOOK_PIVOT_CALLBACK_KEY": "shop-key"}
    assert environs.environ(PIVOT, "off") is None and environs.environ(PIVOT, "unknown") is None


def test_each_account_says_whether_its_callbacks_wait_for_confirmation() -> None:
    midtrans = all_providers()["midtrans"]
    server_key, verify = "PAYHOOK_MIDTRANS_SERVER_KEY", "PAYHOOK_MIDTRANS_VERIFY"
    strict = Account("midtrans", "strict", settings={server_key: "k1", verify: "status-api"})
    inherits = Account("midtrans", "inherits", settings={server_key: "k2"})
    vague = Account("midtrans", "vague", settings={server_key: "k3", verify: "sometimes"})
    environs = Environs.of_accounts({server_key: "k0", verify: "off"}, [strict, inherits, vague])
    assert not environs.confirms(midtrans, "default") and not environs.confirms(midtrans, "inherits")
    assert environs.confirms(midtrans, "strict") and environs.confirms(midtrans, "vague")
    assert environs.confirms(midtrans, "removed")  # the provider's own default: status-api
    assert not environs.confirms(PIVOT, "default")
