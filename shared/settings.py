"""One typed settings object, read from the environment (prefix ``PAYHOOK_``) and checked at start."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.env import Network, SettingsError, networks, positive_float, positive_int
from shared.sealing import Sealer, parse_keys

PREFIX = "PAYHOOK_"
T = TypeVar("T")


def _database_url(name: str, raw: str) -> str:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(f"{name} is not a SQLAlchemy URL: {raw!r}") from None
    if not url.drivername.startswith("postgresql"):
        raise SettingsError(f"{name} must point at PostgreSQL (postgresql+psycopg://...), got {url.drivername!r}")
    return raw


def _redis_url(name: str, raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{name} must be a redis://, rediss:// or unix:// URL, got {raw!r}")
    return raw


def _spool(name: str, raw: str) -> bool:
    if raw not in {"postgres", "off"}:
        raise SettingsError(f"{name} must be postgres or off, got {raw!r}")
    return raw == "postgres"


def _flag(name: str, raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return raw.lower() == "true"


def _address(name: str, raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        raise SettingsError(f"{name} must be an IP address to listen on, such as 127.0.0.1, got {raw!r}") from None


def _log_format(name: str, raw: str) -> str:
    if raw not in {"text", "json"}:
        raise SettingsError(f"{name} must be text or json, got {raw!r}")
    return raw


def _log_level(name: str, raw: str) -> str:
    if raw.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise SettingsError(f"{name} must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {raw!r}")
    return raw.upper()


def _fraction(name: str, raw: str) -> float:
    value = positive_float(name, raw)
    if value > 1:
        raise SettingsError(f"{name} must be a fraction of maxmemory, at most 1, got {raw!r}")
    return value


def _schedule(name: str, raw: str) -> tuple[float, ...]:
    parts = [part for part in raw.replace(",", " ").split() if part]
    if not parts:
        raise SettingsError(f"{name} must list seconds between attempts, such as 5,300,1800")
    return tuple(positive_float(name, part) for part in parts)


def _host_patterns(name: str, raw: str) -> tuple[str, ...]:
    patterns = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for pattern in patterns:
        if any(c in pattern for c in "/@?# "):
            raise SettingsError(f"{name} holds host patterns such as *.example.com, got {pattern!r}")
    return patterns


def _named_tokens(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """``name:token`` pairs separated by commas; the name is the actor the audit trail records."""
    pairs: list[tuple[str, str]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        actor, sep, token = part.partition(":")
        if not sep or not actor.strip() or not token.strip():
            raise SettingsError(f"{name} holds name:token pairs separated by commas, got {actor.strip()!r}...")
        if not all(c.isalnum() or c in "-_.@" for c in actor.strip()):
            raise SettingsError(f"{name}: a token's name is letters, digits and -_.@, got {actor.strip()!r}")
        pairs.append((actor.strip(), token.strip()))
    if len({token for _, token in pairs}) != len(pairs):
        raise SettingsError(f"{name} gives the same token two names")
    return tuple(pairs)


def _read(env: Mapping[str, str], name: str, default: T, parse: Callable[[str, str], T]) -> T:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    return parse(PREFIX + name, raw.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob payhook has but the providers' own: their modules read those from ``environ``
    (``shared.providers.load_providers``)."""

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook"
    redis_url: str = "redis://127.0.0.1:6379/0"
    admin_token: str | None = None
    # Named admin tokens (``PAYHOOK_ADMIN_TOKENS``): (actor, token). ``admin_token`` is the actor ``admin``.
    admin_tokens: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    max_body_bytes: int = 1_048_576
    # Names of the Redis keys; tests give each run its own prefix.
    queue_prefix: str = "payhook"
    batch_size: int = 500
    claim_timeout_seconds: float = 30.0
    max_deliveries: int = 5
    max_drains: int = 4
    drain_budget_seconds: float = 10.0
    # The receiver's defences: a deadline for each request's head and body, a bound on callbacks in flight.
    request_timeout_seconds: float = 10.0
    max_concurrent_requests: int = 1024
    # After SIGTERM, how long the web process keeps answering (readiness already 503) before it stops.
    shutdown_grace_seconds: float = 5.0
    # While Redis cannot take a callback (down, hung, above the high-water mark of its maxmemory), store it in
    # PostgreSQL and answer 200; off: answer 503. A hung Redis holds a request no longer than the timeout.
    fallback_spool: bool = True
    # Log lines for people (text) or one JSON object each (json); the level every process logs at.
    log_format: str = "text"
    log_level: str = "WARNING"
    # The worker's Prometheus endpoint (one per worker, covering its whole pool), scraped from other hosts
    # unless bound to loopback (payhook dev binds it to 127.0.0.1).
    worker_metrics_port: int = 9108
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104
    append_timeout_seconds: float = 0.25
    redis_high_water: float = 0.9
    # Proxies whose X-Forwarded-For is believed.
    trusted_proxies: tuple[Network, ...] = ()
    # The outbox: seconds between delivery attempts (each with up to 10 % jitter), the hosts endpoints may
    # point at (empty: any), an attempt's connect and read timeouts, how many attempts one endpoint may have in
    # flight at once (across every worker), how many delivery loops may run at once, and how long delivered
    # events are kept.
    delivery_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    endpoint_allowed_hosts: tuple[str, ...] = ()
    delivery_connect_timeout_seconds: float = 5.0
    delivery_timeout_seconds: float = 15.0
    delivery_concurrency: int = 32
    max_delivery_loops: int = 2
    outbox_retention_seconds: float = 7 * 86400.0
    # Bulk replays and purges: letters per second at most (a replay also waits while live callbacks queue).
    bulk_rate: float = 1000.0
    # Reconciliation: when a payment that is not final is asked about (seconds after its last change, then after
    # each query; spent: unresolved), how many queries per second one provider gets at most (across every
    # worker), and how long one query may take.
    reconcile_schedule: tuple[float, ...] = (60, 300, 900, 3600, 21600, 86400)
    provider_api_rate: int = 5
    provider_api_timeout_seconds: float = 10.0
    # Webhook endpoints that resolve to loopback, private, link-local or unique-local addresses (dev mode).
    endpoint_allow_private: bool = False
    # Fernet keys for encryption at rest of stored raw callbacks; empty: stored as received.
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    # The environment these were read from: each process entry point hands it to ``load_providers``.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def actors(self) -> dict[str, str]:
        """Every admin token, with the actor the audit trail records for it."""
        named = dict((token, actor) for actor, token in self.admin_tokens)
        if self.admin_token and self.admin_token not in named:
            named[self.admin_token] = "admin"
        return named

    @property
    def sealer(self) -> Sealer:
        return Sealer(self.encryption_keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; raise ``SettingsError`` naming the first bad variable."""
        source = dict(os.environ if env is None else env)
        defaults = cls()
        return cls(
            database_url=_read(source, "DATABASE_URL", defaults.database_url, _database_url),
            redis_url=_read(source, "REDIS_URL", defaults.redis_url, _redis_url),
            admin_token=source.get(PREFIX + "ADMIN_TOKEN") or None,
            admin_tokens=_read(source, "ADMIN_TOKENS", (), _named_tokens),
            max_body_bytes=_read(source, "MAX_BODY_BYTES", defaults.max_body_bytes, positive_int),
            queue_prefix=_read(source, "QUEUE_PREFIX", defaults.queue_prefix, lambda _n, raw: raw),
            batch_size=_read(source, "BATCH_SIZE", defaults.batch_size, positive_int),
            claim_timeout_seconds=_read(
                source, "CLAIM_TIMEOUT_SECONDS", defaults.claim_timeout_seconds, positive_float
            ),
            max_deliveries=_read(source, "MAX_DELIVERIES", defaults.max_deliveries, positive_int),
            max_drains=_read(source, "MAX_DRAINS", defaults.max_drains, positive_int),
            drain_budget_seconds=_read(source, "DRAIN_BUDGET_SECONDS", defaults.drain_budget_seconds, positive_float),
            request_timeout_seconds=_read(
                source, "REQUEST_TIMEOUT_SECONDS", defaults.request_timeout_seconds, positive_float
            ),
            max_concurrent_requests=_read(
                source, "MAX_CONCURRENT_REQUESTS", defaults.max_concurrent_requests, positive_int
            ),
            shutdown_grace_seconds=_read(
                source, "SHUTDOWN_GRACE_SECONDS", defaults.shutdown_grace_seconds, positive_float
            ),
            fallback_spool=_read(source, "FALLBACK_SPOOL", defaults.fallback_spool, _spool),
            log_format=_read(source, "LOG_FORMAT", defaults.log_format, _log_format),
            log_level=_read(source, "LOG_LEVEL", defaults.log_level, _log_level),
            worker_metrics_port=_read(source, "WORKER_METRICS_PORT", defaults.worker_metrics_port, positive_int),
            worker_metrics_host=_read(source, "WORKER_METRICS_HOST", defaults.worker_metrics_host, _address),
            append_timeout_seconds=_read(
                source, "APPEND_TIMEOUT_SECONDS", defaults.append_timeout_seconds, positive_float
            ),
            redis_high_water=_read(source, "REDIS_HIGH_WATER", defaults.redis_high_water, _fraction),
            trusted_proxies=_read(source, "TRUSTED_PROXIES", (), networks),
            delivery_retry_schedule=_read(
                source, "DELIVERY_RETRY_SCHEDULE", defaults.delivery_retry_schedule, _schedule
            ),
            endpoint_allowed_hosts=_read(source, "ENDPOINT_ALLOWED_HOSTS", (), _host_patterns),
            delivery_connect_timeout_seconds=_read(
                source, "DELIVERY_CONNECT_TIMEOUT_SECONDS", defaults.delivery_connect_timeout_seconds, positive_float
            ),
            delivery_timeout_seconds=_read(
                source, "DELIVERY_TIMEOUT_SECONDS", defaults.delivery_timeout_seconds, positive_float
            ),
            delivery_concurrency=_read(source, "DELIVERY_CONCURRENCY", defaults.delivery_concurrency, positive_int),
            max_delivery_loops=_read(source, "MAX_DELIVERY_LOOPS", defaults.max_delivery_loops, positive_int),
            bulk_rate=_read(source, "BULK_RATE", defaults.bulk_rate, positive_float),
            outbox_retention_seconds=_read(
                source, "OUTBOX_RETENTION_SECONDS", defaults.outbox_retention_seconds, positive_float
            ),
            reconcile_schedule=_read(source, "RECONCILE_SCHEDULE", defaults.reconcile_schedule, _schedule),
            provider_api_rate=_read(source, "PROVIDER_API_RATE", defaults.provider_api_rate, positive_int),
            provider_api_timeout_seconds=_read(
                source, "PROVIDER_API_TIMEOUT_SECONDS", defaults.provider_api_timeout_seconds, positive_float
            ),
            endpoint_allow_private=_read(source, "ENDPOINT_ALLOW_PRIVATE", False, _flag),
            encryption_keys=_read(source, "ENCRYPTION_KEYS", (), parse_keys),
            environ=source,
        )


__all__ = ["Settings", "SettingsError"]
