"""The provider registry: every module's ``PROVIDER`` found, configured from the environment with its allowed
sources, bodies peeked at best-effort, rotations honoured until their end. No I/O beyond the package's files."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.providers import RotatingAuthenticator, all_providers, configure, demo_environment, load_providers
from shared.settings import SettingsError


@dataclass
class Accepts:
    secret: str

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return None if headers.get("key") == self.secret else "wrong key"


def test_every_provider_module_is_found_by_its_name_and_helpers_are_not() -> None:
    found = all_providers()
    assert {"midtrans", "pivot", "revenue-monster"} <= set(found)
    assert all(name == provider.name and not name.startswith("_") for name, provider in found.items())


def test_each_provider_has_its_example_among_its_samples() -> None:
    for provider in all_providers().values():
        samples = provider.samples()
        assert provider.example in samples
        assert all(body.lstrip().startswith(b"{") for body in samples.values())


def test_configuring_reads_the_credential_and_the_allowed_sources(tmp_path: Path) -> None:
    pivot = all_providers()["pivot"]
    assert configure(pivot, {}).authenticator is None
    env = {**demo_environment(tmp_path), pivot.allowed_sources_variable: "127.0.0.0/8, ::1/128"}
    configured = configure(pivot, env, account="shop")
    assert configured.authenticator is not None and configured.account == "shop"
    assert len(configured.allowed_sources) == 2
    assert pivot.allowed_sources_variable == "PAYHOOK_PIVOT_ALLOWED_SOURCES"
    assert all(c.authenticator is not None for c in load_providers(env).values())


def test_a_malformed_source_list_names_its_variable() -> None:
    pivot = all_providers()["pivot"]
    with pytest.raises(SettingsError, match=pivot.allowed_sources_variable):
        configure(pivot, {pivot.allowed_sources_variable: "not-a-network"})


def test_peek_reads_event_and_order_reference_from_any_json_body() -> None:
    pivot = all_providers()["pivot"]
    assert pivot.peek(pivot.samples()["payment_paid"]) == ("PAYMENT.PAID", "1750758552")
    assert pivot.peek(b'{"event": "X", "data": {"clientReferenceId": "R\\u0000"}}') == ("X", "R")
    assert pivot.peek(b"not json") == (None, None)
    assert pivot.peek(b'{"event": true}') == (None, None)


def test_a_rotation_accepts_the_previous_credentials_until_its_end() -> None:
    live = RotatingAuthenticator(Accepts("new"), Accepts("old"), until=time.time() + 60)
    over = RotatingAuthenticator(Accepts("new"), Accepts("old"), until=time.time() - 1)
    assert live.refusal({"key": "new"}, b"") is None and live.refusal({"key": "old"}, b"") is None
    assert live.refusal({"key": "other"}, b"") == "wrong key"
    assert over.refusal({"key": "old"}, b"") == "wrong key" and over.refusal({"key": "new"}, b"") is None
