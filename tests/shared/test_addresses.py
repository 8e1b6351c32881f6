"""Which addresses an endpoint may reach. Only loopback addresses appear here as values: the other kinds are
proved on what ``ipaddress`` says of an address, through a stand-in that says it."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import pytest

from shared.addresses import AddressRefused, check_host, guarded_socket, kind, refusal


@dataclass(frozen=True)
class Facts:
    is_loopback: bool = False
    is_link_local: bool = False
    is_private: bool = False
    is_multicast: bool = False
    is_unspecified: bool = False
    is_reserved: bool = False
    is_global: bool = False


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(is_loopback=True, is_private=True), "loopback"),
        (Facts(is_link_local=True, is_private=True), "link-local"),
        (Facts(is_private=True), "private"),
        (Facts(is_multicast=True), "multicast"),
        (Facts(is_unspecified=True, is_private=True), "unspecified"),
        (Facts(is_reserved=True), "reserved"),
        (Facts(), "non-public"),
        (Facts(is_global=True), None),
    ],
)
def test_every_kind_but_public_is_refused(facts: Facts, expected: str | None) -> None:
    assert kind(facts) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_refused_in_every_spelling(text: str) -> None:
    reason = refusal(ipaddress.ip_address(text))
    assert reason is not None and "loopback" in reason and "PAYHOOK_ENDPOINT_ALLOW_PRIVATE" in reason


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0x7f000001", "::1", "2130706433"])
def test_hosts_that_are_or_resolve_to_loopback_are_refused(host: str) -> None:
    with pytest.raises(AddressRefused, match="loopback"):
        check_host(host, 8080)


def test_the_socket_factory_refuses_loopback_before_any_socket_is_made() -> None:
    for family, address in ((socket.AF_INET, ("127.0.0.1", 80)), (socket.AF_INET6, ("::1", 80, 0, 0))):
        with pytest.raises(AddressRefused, match="loopback"):
            guarded_socket((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address))
