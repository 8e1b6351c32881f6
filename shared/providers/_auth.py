"""What providers' authenticators have in common: several secrets compared in constant time (a rotation),
a time window, an account's scope within a key shared by merchants, and throwaway credentials kept in a folder
for tests and demos."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.env import SettingsError, positive_float, secrets_list
from shared.providers import Authenticator
from shared.providers._api import dig


class ScopedAuthenticator:
    """A provider that signs every merchant's callbacks with one key: ``inner`` proves the callback is the
    provider's, and the body's field at the first of ``paths`` present must be one of ``allowed`` (an account's
    own stores, say), or one merchant's genuine callback would be taken on another merchant's route."""

    def __init__(self, inner: Authenticator, allowed: frozenset[str], paths: tuple[str, ...], setting: str) -> None:
        self._inner, self._allowed, self._paths, self._setting = inner, allowed, paths, setting

    def refusal(self, headers: Mapping[str, str], body: bytes) -> str | None:
        refused = self._inner.refusal(headers, body)
        if refused is not None:
            return refused
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None
        for path in self._paths:
            found = dig(document, path)
            if found is not None:
                if str(found) in self._allowed:
                    return None
                return f"{path} {str(found)[:40]!r} is not one of this account's ({self._setting})"
        return f"the callback names none of {', '.join(self._paths)}, and this account takes its {self._setting} only"


def scoped(inner: Authenticator, allowed: str, paths: tuple[str, ...], setting: str) -> Authenticator:
    """``inner``, limited to the comma-separated values of ``allowed`` (unset: no limit)."""
    values = frozenset(part.strip() for part in allowed.split(",") if part.strip())
    return ScopedAuthenticator(inner, values, paths, setting) if values else inner


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


def pem_setting(env: Mapping[str, str], variable: str) -> tuple[str, str] | None:
    """The PEM text of ``variable``, or of the file ``<variable>_FILE`` names, and the variable it came from
    (to name in errors); None when neither is set."""
    pem, path = env.get(variable, "").strip(), env.get(variable + "_FILE", "").strip()
    if pem and path:
        raise SettingsError(f"set {variable} or {variable}_FILE, not both")
    if not path:
        return (pem, variable) if pem else None
    try:
        return Path(path).read_text(), variable + "_FILE"
    except OSError as exc:
        raise SettingsError(f"{variable}_FILE: cannot read {path!r}: {exc.strerror}") from None


def rsa_public_keys(pem: str, variable: str) -> tuple[rsa.RSAPublicKey, ...]:
    """Every RSA public key in ``pem`` (several PEM blocks during a rotation)."""
    # Environments often carry PEM text on one line with literal "\n".
    pem = pem.replace("\\n", "\n")
    blocks = [b for b in pem.split("-----BEGIN ") if b.strip()]
    if not blocks:
        raise SettingsError(f"{variable} holds no PEM public key")
    keys: list[rsa.RSAPublicKey] = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(("-----BEGIN " + block).encode())
        except (ValueError, UnsupportedAlgorithm):
            raise SettingsError(f"{variable} is not a PEM public key (BEGIN PUBLIC KEY)") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise SettingsError(f"{variable} must be an RSA public key")
        keys.append(key)
    return tuple(keys)


def rsa_private_key(env: Mapping[str, str], variable: str) -> rsa.RSAPrivateKey:
    """An RSA private key (PKCS#1 or PKCS#8 PEM) from ``variable``, or from the file ``<variable>_FILE`` names."""
    found = pem_setting(env, variable)
    if found is None:
        raise SettingsError(f"{variable} (or {variable}_FILE) is not set")
    pem, variable = found[0].replace("\\n", "\n"), found[1]
    try:
        key = serialization.load_pem_private_key(pem.encode(), None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SettingsError(f"{variable} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SettingsError(f"{variable} must be an RSA private key")
    return key


def kept_rsa_key(folder: Path, name: str) -> rsa.RSAPrivateKey:
    """A throwaway RSA key pair kept in ``folder/name`` (PEM), made on first use."""
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = made.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def public_pem(key: rsa.RSAPrivateKey) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode()
