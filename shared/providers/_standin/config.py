"""What the stand-in accepts and signs with, read from the settings payhook's own API clients read.

Every credential defaults to a throwaway value, so that a bare ``serve(port)`` works for a developer: the
client credentials named in ``tests/fixtures/keys/README.md`` and the keys of the provider modules'
``test_signer(keys)`` (made in the keys folder on first use, as the modules make them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.env import SettingsError, positive_int, secrets_list
from shared.providers import Signer, midtrans, pivot, revenue_monster
from shared.providers._auth import public_pem

PIVOT_MERCHANT_ID = "pivot-test-merchant"
PIVOT_MERCHANT_SECRET = "pivot-test-secret"  # noqa: S105 (a documented throwaway)
RM_CLIENT_ID = "rm-test-client"
RM_CLIENT_SECRET = "rm-test-secret"  # noqa: S105 (a documented throwaway)
# Midtrans's production keys lack the sandbox's "SB-" prefix.
MIDTRANS_PRODUCTION_KEY = "Mid-server-TEST-payhook-production-0000"
MERCHANT_PRIVATE = "revenue-monster-merchant-test-private.pem"
MERCHANT_PUBLIC = "revenue-monster-merchant-test-public.pem"
# Revenue Monster's documented token lifetimes (about 30 days; the refresh token's, about 50 years).
RM_TOKEN_SECONDS = 2591999
RM_REFRESH_TOKEN_SECONDS = 1576799999
# [inferred] The settlement report's page size is not documented.
RM_PAGE_SIZE = 50

_SIM = "PAYHOOK_SIMULATE_"


@dataclass(frozen=True)
class StandInConfig:
    pivot_merchant_id: str
    pivot_merchant_secret: str
    pivot_signer: Signer
    rm_client_id: str
    rm_client_secret: str
    rm_merchant_key: rsa.RSAPublicKey
    rm_signer: Signer
    midtrans_sandbox_key: str
    midtrans_production_key: str
    midtrans_signer: Signer
    rm_token_seconds: int = RM_TOKEN_SECONDS
    rm_refresh_token_seconds: int = RM_REFRESH_TOKEN_SECONDS
    rm_page_size: int = RM_PAGE_SIZE
    # The HTTP status of Midtrans's "Transaction doesn't exist." (404 or 200: the docs do not say).
    midtrans_not_found_status: int = 404

    @classmethod
    def from_env(cls, environ: Mapping[str, str], keys_folder: Path) -> StandInConfig:
        """The stand-in for these settings; ``keys_folder`` holds (or receives) the throwaway keys."""
        configured = _first(environ, midtrans.KEY_VARIABLE)
        signer = midtrans_signer(configured) if configured else midtrans.test_signer(keys_folder)
        sandbox = signer.secret
        production = _first(environ, f"{_SIM}MIDTRANS_PRODUCTION_KEY") or MIDTRANS_PRODUCTION_KEY
        if production == sandbox:
            raise SettingsError(f"{_SIM}MIDTRANS_PRODUCTION_KEY must differ from {midtrans.KEY_VARIABLE}")
        return cls(
            pivot_merchant_id=environ.get("PAYHOOK_PIVOT_MERCHANT_ID") or PIVOT_MERCHANT_ID,
            pivot_merchant_secret=environ.get("PAYHOOK_PIVOT_MERCHANT_SECRET") or PIVOT_MERCHANT_SECRET,
            pivot_signer=_pivot_signer(environ, keys_folder),
            rm_client_id=environ.get("PAYHOOK_REVENUE_MONSTER_CLIENT_ID") or RM_CLIENT_ID,
            rm_client_secret=environ.get("PAYHOOK_REVENUE_MONSTER_CLIENT_SECRET") or RM_CLIENT_SECRET,
            rm_merchant_key=merchant_public_key(environ, keys_folder),
            rm_signer=_rm_signer(environ, keys_folder),
            midtrans_sandbox_key=sandbox,
            midtrans_production_key=production,
            midtrans_signer=signer,
            rm_token_seconds=_positive(environ, f"{_SIM}REVENUE_MONSTER_TOKEN_SECONDS", RM_TOKEN_SECONDS),
            rm_refresh_token_seconds=_positive(
                environ, f"{_SIM}REVENUE_MONSTER_REFRESH_TOKEN_SECONDS", RM_REFRESH_TOKEN_SECONDS
            ),
            rm_page_size=_positive(environ, f"{_SIM}REVENUE_MONSTER_RECONCILIATION_PAGE_SIZE", RM_PAGE_SIZE),
            midtrans_not_found_status=_not_found_status(environ),
        )


def _first(environ: Mapping[str, str], variable: str) -> str | None:
    """The first of the values in a setting that may list several (a rotation): the key a client uses."""
    values = secrets_list(environ.get(variable, ""))
    return values[0] if values else None


def _positive(environ: Mapping[str, str], variable: str, default: int) -> int:
    raw = environ.get(variable, "").strip()
    return positive_int(variable, raw) if raw else default


def _not_found_status(environ: Mapping[str, str]) -> int:
    variable = f"{_SIM}MIDTRANS_NOT_FOUND_STATUS"
    raw = environ.get(variable, "404").strip() or "404"
    if raw not in ("404", "200"):
        raise SettingsError(f"{variable} must be 404 or 200, got {raw!r}")
    return int(raw)


def _pivot_signer(environ: Mapping[str, str], keys: Path) -> Signer:
    key = _first(environ, pivot.KEY_VARIABLE)
    if key is None:
        return pivot.test_signer(keys)
    return Signer(key, lambda body: (body, {"X-API-Key": key, "Content-Type": "application/json"}))


def midtrans_signer(server_key: str) -> Signer:
    """Midtrans signs inside the body, with the merchant's server key (the one its API accepts)."""

    def sign(body: bytes) -> tuple[bytes, dict[str, str]]:
        doc = orjson.loads(body)
        message = midtrans.signing_string(doc)
        if message is not None:
            doc["signature_key"] = hashlib.sha512(message + server_key.encode()).hexdigest()
        return orjson.dumps(doc), {"Content-Type": "application/json"}

    return Signer(server_key, sign)


def _rm_signer(environ: Mapping[str, str], keys: Path) -> Signer:
    pem = _pem(environ, f"{_SIM}REVENUE_MONSTER_SERVER_PRIVATE_KEY")
    if pem is None:
        return revenue_monster.test_signer(keys)
    key = _private_key(pem, f"{_SIM}REVENUE_MONSTER_SERVER_PRIVATE_KEY")
    return Signer(public_pem(key), lambda body: (body, revenue_monster.sign_headers(body, key)))


def merchant_public_key(environ: Mapping[str, str], keys: Path) -> rsa.RSAPublicKey:
    """The key Revenue Monster verifies the merchant's requests with: the setting, else the public half of
    the private key payhook's client signs with, else the throwaway pair in ``keys`` (made if missing)."""
    variable = f"{_SIM}REVENUE_MONSTER_MERCHANT_PUBLIC_KEY"
    pem = _pem(environ, variable)
    if pem is not None:
        return _public_key(pem, variable)
    private = _pem(environ, "PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY")
    if private is not None:
        return _private_key(private, "PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY").public_key()
    public_path = keys / MERCHANT_PUBLIC
    if not public_path.exists():
        _make_merchant_pair(keys)
    return _public_key(public_path.read_text(), str(public_path))


def _make_merchant_pair(keys: Path) -> None:
    """A throwaway merchant key pair; the private half as PKCS#1 PEM, the form Revenue Monster's SDKs load."""
    private_path = keys / MERCHANT_PRIVATE
    if private_path.exists():
        key = _private_key(private_path.read_text(), str(private_path))
    else:
        keys.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        private_path.write_bytes(pem)
        private_path.chmod(0o600)
    (keys / MERCHANT_PUBLIC).write_text(public_pem(key))


def _pem(environ: Mapping[str, str], variable: str) -> str | None:
    """PEM text from ``variable`` or from the file ``variable_FILE`` names (not both)."""
    text = environ.get(variable, "").strip()
    path = environ.get(f"{variable}_FILE", "").strip()
    if text and path:
        raise SettingsError(f"set {variable} or {variable}_FILE, not both")
    if path:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"{variable}_FILE: cannot read {path!r}: {exc.strerror}") from None
    return text.replace("\\n", "\n") or None


def _public_key(pem: str, variable: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise SettingsError(f"{variable} is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SettingsError(f"{variable} must be an RSA key")
    return key


def _private_key(pem: str, variable: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SettingsError(f"{variable} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SettingsError(f"{variable} must be an RSA key")
    return key
