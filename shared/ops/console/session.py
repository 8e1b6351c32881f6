"""Console sessions: signing in with an admin token, an HttpOnly SameSite=Strict cookie, CSRF tokens.

The cookie holds the actor's name, when it was issued, a random session id and a digest of the token it was
made with, signed with a key derived from every configured admin token; removing (rotating) a token ends the
sessions made with it. The cookie alone is not enough: each live session id is also a key in Redis (under the
deployment's prefix, so every web process agrees) whose TTL is the idle timeout, renewed by each request but
never past the 8 hours. Signing out deletes the key, and a session whose key is gone (signed out, idle too
long) is refused everywhere, whatever its cookie says. Each form carries a CSRF token derived from the session
id; a state-changing request also must not come from another site (``Origin`` / ``Sec-Fetch-Site``), which
SameSite=Strict already keeps the cookie from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass

import orjson
from redis import Redis

COOKIE = "payhook_console"
LIFETIME_SECONDS = 8 * 3600
IDLE_SECONDS = 30 * 60


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
    """Blocking (Redis): call from the thread pool."""

    def __init__(
        self,
        actors: dict[str, str],
        redis: Redis,
        prefix: str,
        *,
        lifetime_seconds: float = LIFETIME_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        # token -> actor; the key signs cookies and CSRF tokens.
        self.actors = actors
        self.redis = redis
        self.prefix = prefix
        self.lifetime = lifetime_seconds
        self.idle = idle_seconds
        material = "\n".join(sorted(actors)).encode()
        self._key = hashlib.sha256(b"payhook-console-v1\n" + material).digest()
        self._digests = {self._token_digest(token): actor for token, actor in actors.items()}

    @staticmethod
    def _token_digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()[:32]

    def key(self, sid: str) -> str:
        return f"{self.prefix}:console-session:{sid}"

    def sign_in(self, token: str) -> ConsoleSession | None:
        """A new, live session for a valid token (each compared in constant time), or None."""
        given = self._token_digest(token)
        found = None
        for digest, actor in self._digests.items():
            if hmac.compare_digest(given, digest):
                found = ConsoleSession(actor, time.time(), secrets.token_urlsafe(16), digest)
        if found is not None:
            self.redis.set(self.key(found.sid), found.token_digest, ex=self._ttl(found))
        return found

    def sign_out(self, session: ConsoleSession) -> None:
        self.redis.delete(self.key(session.sid))

    def cookie(self, session: ConsoleSession) -> str:
        payload = _b64(orjson.dumps([session.actor, session.issued, session.sid, session.token_digest]))
        return f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None) -> tuple[ConsoleSession | None, str | None]:
        """The live session, its idle timeout renewed; or None with why: "expired" (sign in again), or
        "invalid"."""
        session, why = self._parse(cookie)
        if session is None:
            return None, why
        ttl = self._ttl(session)
        if ttl <= 0:
            return None, "expired"
        # One command reads the key and renews its TTL: a session idle past its TTL is simply gone.
        stored = self.redis.getex(self.key(session.sid), ex=ttl)
        if stored is None:
            return None, "expired"
        if (stored.decode() if isinstance(stored, bytes) else stored) != session.token_digest:
            return None, "invalid"
        return session, None

    def _parse(self, cookie: str | None) -> tuple[ConsoleSession | None, str | None]:
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
        return ConsoleSession(str(actor), float(issued), str(sid), str(digest)), None

    def _ttl(self, session: ConsoleSession) -> int:
        """Whole seconds the session may stay idle now: the idle timeout, cut at the end of its lifetime."""
        left = session.issued + self.lifetime - time.time()
        return max(0, math.floor(min(self.idle, left)))

    def csrf(self, session: ConsoleSession) -> str:
        return self._sign(f"csrf:{session.sid}")

    def check_csrf(self, session: ConsoleSession, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.csrf(session).encode())

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())
