"""Optional encryption at rest of stored raw callbacks (events and dead letters).

``PAYHOOK_ENCRYPTION_KEYS`` holds Fernet keys separated by commas: the first seals, every one opens, so a
new key goes first and an old one stays until nothing sealed with it is left. Sealed bytes carry a marker;
rows written before encryption was turned on (or after it was turned off) read back unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.env import SettingsError

MARKER = b"\x00payhook-sealed:1:"
VARIABLE = "PAYHOOK_ENCRYPTION_KEYS"


class Sealer:
    def __init__(self, keys: tuple[str, ...] = ()) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
        except ValueError:
            raise SettingsError(f"{VARIABLE} must hold Fernet keys (32 url-safe base64 bytes each)") from None
        # A key of its own for fingerprints of sealed secrets, derived from the sealing key: a fingerprint in
        # clear beside a sealed value must not let anyone without the key try guesses against it.
        self.fingerprint_key = (
            hmac.digest(base64.urlsafe_b64decode(keys[0]), b"payhook:account-fingerprints", hashlib.sha256)
            if keys
            else None
        )

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, data: bytes) -> bytes:
        return data if self._fernet is None else MARKER + self._fernet.encrypt(data)

    def open(self, data: bytes) -> bytes:
        """The original bytes. A body that merely starts like a sealed one (a sender can send anything) and
        does not decrypt is returned as it is: it was stored as it came."""
        if not data.startswith(MARKER):
            return data
        if self._fernet is None:
            raise SettingsError(f"a stored callback is encrypted: set {VARIABLE} to read it")
        try:
            return self._fernet.decrypt(data[len(MARKER) :])
        except InvalidToken:
            return data


def parse_keys(name: str, raw: str) -> tuple[str, ...]:
    keys = tuple(k for k in raw.replace(",", " ").split() if k)
    Sealer(keys)  # validates them
    return keys
