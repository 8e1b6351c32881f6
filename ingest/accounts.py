"""Where each callback goes: ``/callbacks/<provider>`` is the provider's account ``default`` (the settings' own
credentials), ``/callbacks/<provider>/<account>`` a merchant account kept in PostgreSQL.

A request costs one dict lookup: the table of routes lives in memory, and is rebuilt off the event loop when
the accounts change. Every change bumps a version key in Redis; each web process reads that key every second
and rebuilds on a new value, and rebuilds every minute anyway (a bump lost with Redis, a rotation's overlap
ending). Unknown and disabled accounts are simply not in the table: a 404, and no database call per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.accounts import Account, environ_for
from shared.env import SettingsError
from shared.providers import Configured, RotatingAuthenticator, all_providers, configure
from shared.queue import DEFAULT_ACCOUNT

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
RELOAD_SECONDS = 60.0
Routes = dict[str, Configured]


def routes(defaults: Mapping[str, Configured], accounts: Iterable[Account], environ: Mapping[str, str]) -> Routes:
    """The routing table: every provider's default (also as ``<provider>/default``) and every enabled account.
    An account whose settings no longer configure (a key that does not parse) is left out and logged."""
    table: Routes = {}
    for name, configured in defaults.items():
        table[name] = table[f"{name}/{DEFAULT_ACCOUNT}"] = configured
    now = time.time()
    for account in accounts:
        if not account.enabled or account.name == DEFAULT_ACCOUNT:
            continue
        try:
            table[account.route] = _configured(account, environ, now)
        except SettingsError as exc:
            log.error("account %s of %s is left out: %s", account.name, account.provider, exc)
    return table


def _configured(account: Account, environ: Mapping[str, str], now: float) -> Configured:
    provider = all_providers()[account.provider]
    current = configure(provider, environ_for(environ, provider, account.settings), account.name)
    if current.authenticator is None or not account.previous_valid(now):
        return current
    assert account.previous is not None and account.previous_until is not None
    old = configure(provider, environ_for(environ, provider, account.previous), account.name).authenticator
    if old is None:
        return current
    both = RotatingAuthenticator(current.authenticator, old, account.previous_until)
    return Configured(provider, both, current.allowed_sources, account.name)


class RouteWatcher:
    """Keeps a routing table fresh: ``install`` receives each new table."""

    def __init__(
        self,
        redis: Redis,
        version_key: str,
        load: Callable[[], Routes],
        install: Callable[[Routes], None],
    ) -> None:
        self._redis, self._key, self._load, self._install = redis, version_key, load, install
        self._seen: bytes | str | None = None
        self._loaded_at = 0.0

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # a failed reload keeps the table it has; the next round tries again
                log.warning("could not reload accounts: %s", type(exc).__name__)
            await asyncio.sleep(POLL_SECONDS)

    async def refresh(self) -> bool:
        """Rebuild when the version moved or the table is old; True when it did."""
        try:
            version = await self._redis.get(self._key)
        except (RedisError, OSError):
            version = self._seen
        stale = time.monotonic() - self._loaded_at >= RELOAD_SECONDS
        if version == self._seen and not stale:
            return False
        self._install(await asyncio.to_thread(self._load))
        self._seen, self._loaded_at = version, time.monotonic()
        return True
