"""Settings are read once, typed, and a bad one names its variable."""

from __future__ import annotations

import pytest

from ingest.server import create_app
from shared.providers import load_providers
from shared.settings import Settings, SettingsError


def test_defaults_match_the_contract() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/payhook"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.max_body_bytes == 1_048_576
    assert settings.admin_token is None
    assert (settings.worker_metrics_host, settings.worker_metrics_port) == ("0.0.0.0", 9108)
    assert Settings.from_env({"PAYHOOK_WORKER_METRICS_HOST": "127.0.0.1"}).worker_metrics_host == "127.0.0.1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYHOOK_MAX_BODY_BYTES", "lots"),
        ("PAYHOOK_MAX_BODY_BYTES", "-1"),
        ("PAYHOOK_DATABASE_URL", "mysql://root@localhost/x"),
        ("PAYHOOK_DATABASE_URL", "::not a url::"),
        ("PAYHOOK_REDIS_URL", "http://127.0.0.1:6379"),
        ("PAYHOOK_BATCH_SIZE", "0"),
        ("PAYHOOK_CLAIM_TIMEOUT_SECONDS", "soon"),
        ("PAYHOOK_TRUSTED_PROXIES", "127.0.0.0/33"),
        ("PAYHOOK_ENCRYPTION_KEYS", "short"),
        ("PAYHOOK_WORKER_METRICS_HOST", "localhost:9108"),
    ],
)
def test_malformed_setting_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY", "not a key"),
        ("PAYHOOK_PIVOT_ALLOWED_SOURCES", "not-a-network"),
    ],
)
def test_malformed_provider_setting_names_the_variable(variable: str, value: str) -> None:
    """Provider settings belong to the provider modules: ``load_providers`` checks them at each entry point."""
    Settings.from_env({variable: value})  # not the settings' business
    with pytest.raises(SettingsError, match=variable):
        load_providers({variable: value})


def test_the_receiver_stops_at_start_on_a_bad_provider_setting() -> None:
    with pytest.raises(SettingsError, match="PAYHOOK_PIVOT_ALLOWED_SOURCES"):
        create_app(Settings.from_env({"PAYHOOK_PIVOT_ALLOWED_SOURCES": "nope"}), ring=False)
