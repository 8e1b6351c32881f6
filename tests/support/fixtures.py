"""Sample bodies and throwaway credentials, from the provider registry."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from shared.providers import Provider, Signer, all_providers, demo_environment

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# Throwaway credentials, committed: a Pivot key, the Revenue Monster key pair standing in for its server key.
KEYS = FIXTURES / "keys"
PROVIDERS = sorted(all_providers())


def provider(name: str) -> Provider:
    return all_providers()[name]


def sample(name: str) -> bytes:
    """A sample body by ``<provider>.<sample>``, e.g. ``pivot.payment_paid``."""
    provider_name, _, sample_name = name.partition(".")
    return provider(provider_name).samples()[sample_name]


@cache
def signer(provider_name: str) -> Signer:
    return provider(provider_name).test_signer(KEYS)


def signed(provider_name: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    """``body`` as the provider would send it with the test credentials, and its headers."""
    return signer(provider_name).sign(body)


def credentials() -> dict[str, str]:
    """Settings that configure every provider with the test credentials."""
    return demo_environment(KEYS)


PIVOT_KEY = signer("pivot").secret


def json_depth(value: object) -> int:
    """How deeply a parsed JSON value nests (a scalar is 0)."""
    if isinstance(value, list):
        return 1 + max((json_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((json_depth(item) for item in value.values()), default=0)
    return 0
