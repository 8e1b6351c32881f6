"""Standard Webhooks (https://www.standardwebhooks.com): endpoint secrets, signatures, and which URLs an
endpoint may have.

A secret is ``whsec_`` + base64 of 24 random bytes. The signature of one attempt is ``v1,`` + base64 of
HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` keyed with the secret's bytes; during a rotation
the header carries one signature per secret, separated by spaces, so receivers verify with either.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import urlsplit

PREFIX = "whsec_"
SECRET_BYTES = 24


class EndpointRefused(ValueError):
    """An endpoint URL payhook will not deliver to; the message says why."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@lru_cache(maxsize=1024)
def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secrets_in_use: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,`` signature per secret, space-separated."""
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s), signed, hashlib.sha256).digest()).decode() for s in secrets_in_use
    )


def headers(secrets_in_use: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets_in_use, message_id, timestamp, body),
    }


def without_credentials(url: str) -> str:
    """``url`` as the audit trail may keep it: any ``user:password@`` replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rsplit("@", maxsplit=1)[-1]
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


def check_url(url: str, allowed_hosts: Sequence[str]) -> str:
    """``url`` if payhook may deliver to it: http or https, a host, no credentials, and, when
    ``PAYHOOK_ENDPOINT_ALLOWED_HOSTS`` is set, a host matching one of its patterns (``*.example.com``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused(f"not a URL: {exc}") from None
    if parts.scheme not in {"http", "https"}:
        raise EndpointRefused(f"an endpoint URL must be http or https, got {parts.scheme or 'no scheme'!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise EndpointRefused("an endpoint URL must name a host")
    if parts.username or parts.password:
        raise EndpointRefused("an endpoint URL must not carry credentials")
    if port == 0:
        raise EndpointRefused("an endpoint URL must not use port 0")
    if allowed_hosts and not host_allowed(host, allowed_hosts):
        raise EndpointRefused(f"host {host!r} is not in PAYHOOK_ENDPOINT_ALLOWED_HOSTS")
    return url


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """Patterns match host names (``fnmatch``: ``*.example.com``); an IP address only matches itself, so a
    pattern of names never lets a literal address through."""
    host = host.lower().rstrip(".")
    if _is_address(host):
        address = ipaddress.ip_address(host.strip("[]"))
        return any(_is_address(p) and ipaddress.ip_address(p.strip("[]")) == address for p in patterns)
    return any(not _is_address(p) and fnmatch.fnmatchcase(host, p.rstrip(".")) for p in patterns)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
