"""Payment providers. Each is one module of this package that defines ``PROVIDER``; adding one adds a module.

A provider knows how to authenticate its callbacks at the edge and how to turn a body into the canonical
event. Modules whose names start with an underscore are helpers, not providers.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

from shared.canonical import CanonicalEvent

if TYPE_CHECKING:
    from shared.settings import Settings


class Authenticator(Protocol):
    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """None when the callback provably comes from the provider, else why it is refused (for the 401,
        so it names what was wrong and never a secret). Must not raise on hostile input."""


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    # Lower-case names of the headers that travel with the raw body through the queue (never secrets).
    kept_headers: tuple[str, ...]
    # Builds the authenticator from the environment; None when the provider is not configured.
    configure: Callable[[Mapping[str, str]], Authenticator | None]
    # The canonical event, or None for a callback that is accepted and changes nothing (a test ping).
    normalize: Callable[[bytes], CanonicalEvent | None]


@cache
def all_providers() -> dict[str, Provider]:
    found: dict[str, Provider] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        provider: Provider = module.PROVIDER
        found[provider.name] = provider
    return found


def load_providers(settings: Settings) -> dict[str, tuple[Provider, Authenticator | None]]:
    """Every provider with its authenticator from ``settings``; a bad credential raises ``SettingsError``."""
    return {name: (p, p.configure(settings.env)) for name, p in all_providers().items()}
