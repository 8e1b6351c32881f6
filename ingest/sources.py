"""Where a request really comes from, and whether that source may call a provider's endpoint."""

from __future__ import annotations

import ipaddress

from starlette.types import Scope

from shared.env import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(scope: Scope, headers: dict[str, str], trusted: tuple[Network, ...]) -> Address | None:
    """The peer's address, or, when the peer is a trusted proxy, the first address in X-Forwarded-For
    (read from the right) that is not itself a trusted proxy. None when it cannot be told."""
    client = scope.get("client")
    if not client:
        return None
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return None
    if not trusted or not _within(address, trusted):
        return address
    for hop in reversed(headers.get("x-forwarded-for", "").split(",")):
        if not hop.strip():
            continue
        try:
            address = ipaddress.ip_address(hop.strip())
        except ValueError:
            return None  # a forged or garbled chain: the source cannot be told
        if not _within(address, trusted):
            return address
    return address


def source_allowed(
    scope: Scope, headers: dict[str, str], trusted: tuple[Network, ...], allowed: tuple[Network, ...]
) -> bool:
    """No allow-list means any source; with one, an unknown source is refused."""
    if not allowed:
        return True
    address = client_address(scope, headers, trusted)
    return address is not None and _within(address, allowed)
