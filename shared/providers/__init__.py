"""Payment providers: the registry. Each provider is one module of this package that defines ``PROVIDER``.

A provider module declares everything about its provider: its name, how its callbacks are authenticated
(the headers read, the setting holding its credentials, key rotation), which headers travel with the raw
body, how a body becomes the canonical event, its status vocabulary, its OpenAPI description, its sample
bodies (``samples/<name>.*.json`` beside this file) and a signer for tests and demos. Everything else (the
receiver's routes, the OpenAPI document, the demo settings, the test matrix, the bench) reads this registry.
Modules whose names start with an underscore are helpers, not providers.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import orjson

from shared.canonical import CanonicalEvent, Status
from shared.env import Network, networks
from shared.status_api import StatusApi

PREFIX = "PAYHOOK_"


class Authenticator(Protocol):
    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """None when the callback provably comes from the provider, else why it is refused (for the 401,
        so it names what was wrong and never a secret). Must not raise on hostile input."""


@dataclass(frozen=True, slots=True)
class Header:
    """A request header the provider's authentication reads, as the provider spells it."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Signer:
    """Throwaway credentials for tests and demos, and how the provider would sign a body with them."""

    # The credential setting's value that makes ``configure`` accept what ``sign`` signs.
    secret: str
    # The body as sent (a provider that signs inside the body rewrites it) and the headers to send with it.
    sign: Callable[[bytes], tuple[bytes, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    title: str
    # The setting that holds the provider's credentials. Several, separated by newlines (or commas, where a
    # credential holds none), are all accepted: keys rotate without downtime.
    credential: str
    # Builds the authenticator from the environment; None when the credential setting is unset.
    configure: Callable[[Mapping[str, str]], Authenticator | None]
    # The canonical event, or None for a callback that is accepted and changes nothing (a test ping).
    normalize: Callable[[bytes], CanonicalEvent | None]
    # Headers the authentication reads (for the OpenAPI document).
    auth_headers: tuple[Header, ...]
    # Lower-case names of the headers that travel with the raw body through the queue (never secrets).
    kept_headers: tuple[str, ...]
    # The provider's own status words (events, statuses) and the canonical status each maps to.
    statuses: Mapping[str, Status]
    # Dotted paths of the body fields the signature covers; ("*",) for the whole body, () for none.
    signature_covers: tuple[str, ...]
    # Throwaway credentials kept in (or, when missing, made in) a folder.
    test_signer: Callable[[Path], Signer]
    # The sample that ends as a paid payment: the demo's curl and the README's example.
    example: str
    # For the OpenAPI document: how the provider calls back and what it expects.
    description: str = ""
    # Settings other than the credential (documented with the provider).
    options: tuple[str, ...] = field(default=())
    # Where a body names its event type and the merchant's order reference (dotted paths, first found wins):
    # read best-effort from any body, even one that cannot be normalized, so operators can filter dead letters.
    event_type_at: tuple[str, ...] = field(default=())
    order_ref_at: tuple[str, ...] = field(default=())
    # The provider's status API (the authority a callback is a hint of); None: payments are not reconciled.
    status_api: StatusApi | None = None

    def peek(self, body: bytes) -> tuple[str | None, str | None]:
        """The event type and order reference a body names, if it is a JSON object that names them."""
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None, None
        return _first_text(doc, self.event_type_at, 64), _first_text(doc, self.order_ref_at, 255)

    @property
    def allowed_sources_variable(self) -> str:
        """``PAYHOOK_<NAME>_ALLOWED_SOURCES``: CIDR blocks that may send this provider's callbacks."""
        return f"{PREFIX}{self.name.upper().replace('-', '_')}_ALLOWED_SOURCES"

    def samples(self) -> dict[str, bytes]:
        """Sample bodies by name (``payment_paid`` for ``samples/pivot.payment_paid.json``)."""
        folder = resources.files(__name__).joinpath("samples")
        found: dict[str, bytes] = {}
        for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
            stem, _, rest = item.name.partition(".")
            if stem == self.name and rest.endswith(".json"):
                found[rest.removesuffix(".json")] = item.read_bytes()
        return found


def _first_text(doc: Any, paths: tuple[str, ...], limit: int) -> str | None:
    for path in paths:
        value = doc
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value).replace("\x00", "")[:limit] or None
    return None


@dataclass(frozen=True, slots=True)
class Configured:
    """A provider's account as this process runs it: its authenticator (None: not configured) and allowed
    sources."""

    provider: Provider
    authenticator: Authenticator | None
    allowed_sources: tuple[Network, ...]
    account: str = "default"


@dataclass(frozen=True, slots=True)
class RotatingAuthenticator:
    """During a rotation: the new credentials, or the old ones until ``until`` (Unix seconds)."""

    current: Authenticator
    previous: Authenticator
    until: float

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        refused = self.current.refusal(headers, body)
        if refused is None or time.time() >= self.until or self.previous.refusal(headers, body) is not None:
            return refused
        return None


def configure(provider: Provider, environ: Mapping[str, str], account: str = "default") -> Configured:
    """``provider``'s account configured from ``environ`` (the settings, or an account's own); a malformed
    credential or source list raises ``SettingsError`` naming the variable."""
    variable = provider.allowed_sources_variable
    raw = environ.get(variable, "").strip()
    sources = networks(variable, raw) if raw else ()
    return Configured(provider, provider.configure(environ), sources, account)


@cache
def all_providers() -> dict[str, Provider]:
    """Every provider module's ``PROVIDER``, by name."""
    found: dict[str, Provider] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        provider: Provider = module.PROVIDER
        found[provider.name] = provider
    return found


def load_providers(environ: Mapping[str, str]) -> dict[str, Configured]:
    """Every provider with its credentials and allowed sources from ``environ``; called once per process
    entry point. A malformed credential or source list raises ``SettingsError`` naming the variable."""
    return {name: configure(provider, environ) for name, provider in all_providers().items()}


def queried(environ: Mapping[str, str]) -> dict[str, Provider]:
    """The providers whose status API has its credentials in ``environ``: their payments are reconciled."""
    return {
        name: provider
        for name, provider in all_providers().items()
        if provider.status_api is not None and provider.status_api.configured(environ)
    }


def demo_environment(folder: Path) -> dict[str, str]:
    """Settings that configure every provider with throwaway credentials kept in ``folder``."""
    return {p.credential: p.test_signer(folder).secret for p in all_providers().values()}
