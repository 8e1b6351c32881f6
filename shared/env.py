"""Reading values from the environment: the error that names a bad variable, and the parsers that raise it.

Used by ``shared.settings`` and by the provider modules, which read their own credentials.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}")
    return value


def positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}")
    return value


def networks(name: str, raw: str) -> tuple[Network, ...]:
    """CIDR blocks separated by commas or whitespace (a bare address is a block of one)."""
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in raw.replace(",", " ").split())
    except ValueError as exc:
        raise SettingsError(f"{name} must list CIDR blocks such as 203.0.113.0/24: {exc}") from None


def secrets_list(raw: str) -> tuple[str, ...]:
    """Several secrets in one variable, separated by commas or whitespace (a rotation: old and new)."""
    return tuple(part for part in raw.replace(",", " ").split() if part)
