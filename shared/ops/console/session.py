"""Console sessions: signing in with an admin token, an HttpOnly SameSite=Strict cookie, CSRF tokens.

The cookie holds the actor's name, when it was issued, a random session id and a digest of the token it
was made with, signed with a key derived from every configured admin token: every web process checks it
without shared state, and removing (rotating) a token ends the sessions made with it. Each form carries a
CSRF token derived from the session id; a state-changing request also must not come from another site
(``Origin`` / ``Sec-Fetch-Site``), which SameSite=Strict already keeps the cookie from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

COOKIE = "payhook_console"
LIFETIME_SECONDS = 8 * 3600


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    actor: str
    issued: float
    sid: str
    token_digest: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ConsoleSessions:
    def __init__(self, actors: dict[str, str], lifetime_seconds: float = LIFETIME_SECONDS) -> None:
        # token -> actor; the key signs cookies and CSRF tokens.
        self.actors = actors
        self.lifetime = lifetime_seconds
        material = "\n".join(sorted(actors)).encode()
        self._key = hashlib.sha256(b"payhook-console-v1\n" + material).digest()
        self._digests = {self._token_digest(token): actor for token, actor in actors.items()}

    @staticmethod
    def _token_digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()[:32]

    def sign_in(self, token: str) -> ConsoleSession | None:
        """A new session for a valid token (each compared in constant time), or None."""
        given = self._token_digest(token)
        found = None
        for digest, actor in self._digests.items():
            if hmac.compare_digest(given, digest):
                found = ConsoleSession(actor, time.time(), secrets.token_urlsafe(16), digest)
        return found

    def cookie(self, session: ConsoleSession) -> str:
        payload = _b64(orjson.dumps([session.actor, session.issued, session.sid, session.token_digest]))
        return f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None) -> tuple[ConsoleSession | None, str | None]:
        """The session, or None with why: "expired" (sign in again), or "invalid"."""
        if not cookie or "." not in cookie:
            return None, None
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None, "invalid"
        try:
            actor, issued, sid, digest = orjson.loads(_unb64(payload))
        except (ValueError, orjson.JSONDecodeError):
            return None, "invalid"
        if digest not in self._digests:
            return None, "expired"  # the token it was made with is no longer configured
        if time.time() - float(issued) > self.lifetime:
            return None, "expired"
        return ConsoleSession(str(actor), float(issued), str(sid), str(digest)), None

    def csrf(self, session: ConsoleSession) -> str:
        return self._sign(f"csrf:{session.sid}")

    def check_csrf(self, session: ConsoleSession, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.csrf(session).encode())

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())
