"""Which network addresses a webhook endpoint may reach.

By default only public ones. An endpoint at loopback, a private network, link-local (a cloud's metadata
service) or another special-purpose range would let whoever may add endpoints make payhook's workers reach
their own neighbourhood, and read back the first KB of each answer in the delivery log.
``PAYHOOK_ENDPOINT_ALLOW_PRIVATE=true`` lifts the rule (``payhook dev``, tests with a local endpoint).

The rule is applied twice: when an endpoint is added or changed (``check_host``, on every address its name
resolves to now), and at every delivery attempt on the address actually connected to (``guarded_socket``,
the aiohttp connector's socket factory: the connector resolves once and connects to exactly the address it
hands the factory, so a name that changes its answer between the check and the connection gains nothing).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Protocol

__all__ = ["AddressRefused", "check_host", "guarded_socket", "refusal"]

SETTING = "PAYHOOK_ENDPOINT_ALLOW_PRIVATE"
# What getaddrinfo() gives for one address: family, type, protocol, canonical name, socket address.
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]


class AddressFacts(Protocol):
    """What ``ipaddress`` says of an address: all the rule reads."""

    @property
    def is_loopback(self) -> bool: ...
    @property
    def is_link_local(self) -> bool: ...
    @property
    def is_private(self) -> bool: ...
    @property
    def is_multicast(self) -> bool: ...
    @property
    def is_unspecified(self) -> bool: ...
    @property
    def is_reserved(self) -> bool: ...
    @property
    def is_global(self) -> bool: ...


class AddressRefused(OSError):
    """An address payhook will not connect an endpoint to; the message says which and why.

    An ``OSError``: raised from the connector's socket factory, it ends that connection attempt as any
    failure to connect does."""


def kind(facts: AddressFacts) -> str | None:
    """The kind of address the rule refuses (``loopback``, ``private``...), or None for a public one."""
    for name, found in (
        ("loopback", facts.is_loopback),
        ("link-local", facts.is_link_local),
        ("unspecified", facts.is_unspecified),
        ("multicast", facts.is_multicast),
        ("private", facts.is_private),
        ("reserved", facts.is_reserved),
    ):
        if found:
            return name
    # Shared address space (carrier-grade NAT) and the like: neither private nor public.
    return None if facts.is_global else "non-public"


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an endpoint may not reach ``address`` (a sentence), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # "::ffff:127.0.0.1" reaches 127.0.0.1: judge the IPv4 address it carries.
        address = address.ipv4_mapped
    found = kind(address)
    if found is None:
        return None
    return f"{address} is a {found} address; endpoints must be public unless {SETTING}=true"


def check_host(host: str, port: int | None) -> None:
    """Refuse ``host`` when it is, or any address its name now resolves to is, one the rule refuses.

    A name that does not resolve now passes: each delivery attempt checks the address it connects to."""
    try:
        found = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return
    for *_, sockaddr in found:
        reason = refusal(ipaddress.ip_address(sockaddr[0]))
        if reason is not None:
            raise AddressRefused(reason if _is_literal(host) else f"{host} resolves to {reason}")


def guarded_socket(addr_info: AddrInfo) -> socket.socket:
    """The socket for one connection attempt, refused when the rule forbids its address."""
    family, kind_, proto, _, sockaddr = addr_info
    reason = refusal(ipaddress.ip_address(str(sockaddr[0])))
    if reason is not None:
        raise AddressRefused(reason)
    return socket.socket(family=family, type=kind_, proto=proto)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
