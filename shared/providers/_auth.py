"""What providers' authenticators have in common: several secrets compared in constant time (a rotation),
a time window, and throwaway credentials kept in a folder for tests and demos."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from shared.env import positive_float, secrets_list


class SecretRing:
    """Every configured secret, compared with what a callback carries in constant time.

    Every secret is compared, whether or not an earlier one matched, so the time taken says nothing about
    which secret (or how much of one) was right.
    """

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(k.encode() for k in keys)

    def __len__(self) -> int:
        return len(self._keys)

    def holds(self, given: str) -> bool:
        """``given`` is one of the secrets."""
        return self.derives(given, lambda key: key)

    def derives(self, given: str, derive: Callable[[bytes], bytes]) -> bool:
        """``given`` is what ``derive`` makes of one of the secrets (a digest over the body and the key)."""
        candidate = given.encode("utf-8", errors="replace")
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, derive(key))
        return matched


def secret_ring(env: Mapping[str, str], variable: str) -> SecretRing | None:
    """The secrets in ``variable`` (separated by commas or whitespace), None when it is unset."""
    keys = secrets_list(env.get(variable, ""))
    return SecretRing(keys) if keys else None


def optional_seconds(env: Mapping[str, str], variable: str) -> float | None:
    raw = env.get(variable, "").strip()
    return positive_float(variable, raw) if raw else None


def within(stamp: str, max_skew: float, now: float | None = None) -> bool:
    """``stamp`` (Unix seconds, as text) is no further than ``max_skew`` seconds from now."""
    try:
        return abs((time.time() if now is None else now) - float(stamp)) <= max_skew
    except ValueError:
        return False


def kept_secret(folder: Path, name: str, make: Callable[[], str] | None = None) -> str:
    """A throwaway secret stored in ``folder/name``, made (random unless ``make`` says) on first use."""
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text((make or (lambda: secrets.token_urlsafe(24)))() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()
