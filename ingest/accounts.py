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
from collections.abc import Callable, Hashable, Iterable, Mapping

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
    return RouteBuilder(defaults, environ)(accounts)


class RouteBuilder:
    """Builds routing tables, each entry made once: an account whose settings (and rotation) are as they were
    at the last build keeps the very same entry. A reload (every minute, and at every account's change) then
    makes new objects only for what changed, so the table's objects, moved out of the cyclic collector's reach
    once loaded at start, stay out of it: 10,000 accounts are some 40,000 objects that full collections
    would otherwise walk again and again."""

    def __init__(self, defaults: Mapping[str, Configured], environ: Mapping[str, str]) -> None:
        self._defaults, self._environ = defaults, environ
        self._built: dict[str, tuple[Hashable, Configured]] = {}

    def __call__(self, accounts: Iterable[Account]) -> Routes:
        table: Routes = {}
        for name, configured in self._defaults.items():
            table[name] = table[f"{name}/{DEFAULT_ACCOUNT}"] = configured
        now = time.time()
        built: dict[str, tuple[Hashable, Configured]] = {}
        for account in accounts:
            if not account.enabled or account.name == DEFAULT_ACCOUNT:
                continue
            made = self._built.get(account.route)
            key = _key(account, now)
            if made is None or made[0] != key:
                try:
                    made = (key, _configured(account, self._environ, now))
                except SettingsError as exc:
                    log.error("account %s of %s is left out: %s", account.name, account.provider, exc)
                    continue
            built[account.route] = made
            table[account.route] = made[1]
        self._built = built
        return table


def _key(account: Account, now: float) -> Hashable:
    """What an account's entry is made from: its settings, and its previous ones while they are valid."""
    current = tuple(sorted(account.settings.items()))
    if not account.previous_valid(now):
        return current
    assert account.previous is not None
    return current, tuple(sorted(account.previous.items())), account.previous_until


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
