"""The stand-in's settings: the names payhook's API clients read, throwaway defaults, and refusals."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from shared.env import SettingsError
from shared.providers._standin import StandInConfig, create_app, serve
from tests.shared.providers.standin.conftest import midtrans_auth
from tests.support.fixtures import KEYS


def test_the_settings_payhook_s_clients_read_are_the_credentials_accepted(tmp_path: Path) -> None:
    private = KEYS / "revenue-monster-merchant-test-private.pem"
    settings = {
        "PAYHOOK_PIVOT_MERCHANT_ID": "m-1",
        "PAYHOOK_PIVOT_MERCHANT_SECRET": "s-1",
        "PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY_FILE": str(private),
        "PAYHOOK_MIDTRANS_SERVER_KEY": "SB-Mid-server-other",
    }
    with TestClient(create_app(StandInConfig.from_env(settings, tmp_path))) as client:
        token = client.post(
            "/pivot/v1/access-token",
            headers={"X-MERCHANT-ID": "m-1", "X-MERCHANT-SECRET": "s-1"},
            json={"grantType": "client_credentials"},
        )
        midtrans = client.get("/midtrans/v2/x/status", headers=midtrans_auth("SB-Mid-server-other"))

    assert token.status_code == 200
    assert midtrans.status_code == 404
    # Nothing asked for the fixture's merchant pair: the private key's public half was used.
    assert not (tmp_path / "revenue-monster-merchant-test-public.pem").exists()


def test_a_bare_keys_folder_receives_throwaway_keys(tmp_path: Path) -> None:
    StandInConfig.from_env({}, tmp_path / "keys")

    made = sorted(p.name for p in (tmp_path / "keys").iterdir())

    assert "revenue-monster-merchant-test-private.pem" in made
    assert "revenue-monster-merchant-test-public.pem" in made
    assert "pivot-test-key" in made


def test_settings_that_cannot_work_are_refused() -> None:
    key = base64.b64encode(b"x").decode()
    with pytest.raises(SettingsError):
        StandInConfig.from_env(
            {"PAYHOOK_SIMULATE_MIDTRANS_PRODUCTION_KEY": (KEYS / "midtrans-test-server-key").read_text()}, KEYS
        )
    with pytest.raises(SettingsError):
        StandInConfig.from_env({"PAYHOOK_SIMULATE_REVENUE_MONSTER_MERCHANT_PUBLIC_KEY": key}, KEYS)
    with pytest.raises(ValueError, match="loopback"):
        serve(0, host="0.0.0.0")
