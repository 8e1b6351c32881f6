"""Standard Webhooks signatures (checked with the reference package), endpoint URLs, and the retry schedule's
settings (the schedule itself: ``tests/workers/delivery/test_schedule.py``)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from shared import webhooks
from shared.settings import Settings, SettingsError


@given(body=st.binary(max_size=2000).map(lambda b: b.hex().encode()), message_id=st.text("abc_0123456789", min_size=1))
def test_signatures_verify_with_the_reference_implementation(body: bytes, message_id: str) -> None:
    secret = webhooks.new_secret()
    headers = webhooks.headers([secret], message_id, int(time.time()), body)
    Webhook(secret).verify(body, headers, json_parse=False)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = webhooks.new_secret(), webhooks.new_secret()
    headers = webhooks.headers([new, old], "evt_1", int(time.time()), b'{"a":1}')
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        assert Webhook(secret).verify(b'{"a":1}', headers) == {"a": 1}


def test_secrets_are_whsec_and_random() -> None:
    made = {webhooks.new_secret() for _ in range(100)}
    assert len(made) == 100 and all(s.startswith("whsec_") for s in made)


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("hooks.merchant.example", ("*.merchant.example",), True),
        ("merchant.example", ("*.merchant.example",), False),
        ("merchant.example.evil.test", ("*.merchant.example",), False),
        ("HOOKS.Merchant.Example", ("*.merchant.example",), True),
        ("127.0.0.1", ("*",), False),  # a pattern of names never lets a literal address through
        ("127.0.0.2", ("127.0.0.2",), True),
        ("::1", ("[::1]",), True),
    ],
)
def test_host_patterns(host: str, patterns: tuple[str, ...], allowed: bool) -> None:
    assert webhooks.host_allowed(host, patterns) is allowed


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PAYHOOK_DELIVERY_RETRY_SCHEDULE", "5,soon", "must be a number"),
        ("PAYHOOK_DELIVERY_RETRY_SCHEDULE", "5,-1", "greater than zero"),
        ("PAYHOOK_ENDPOINT_ALLOWED_HOSTS", "https://x.example/", "host patterns"),
        ("PAYHOOK_DELIVERY_CONCURRENCY", "0", "greater than zero"),
    ],
)
def test_bad_outbox_settings_name_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=variable) as raised:
        Settings.from_env({variable: value})
    assert says in str(raised.value)


def test_outbox_settings_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({})
    assert settings.delivery_retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    assert settings.endpoint_allowed_hosts == ()
    assert Settings.from_env({"PAYHOOK_DELIVERY_RETRY_SCHEDULE": "1, 2,3"}).delivery_retry_schedule == (1, 2, 3)
