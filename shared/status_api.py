"""Asking a provider what it knows: the payment a query is about, what an answer can be, and what a provider's
status client needs from the process that runs it.

A callback is a hint; the provider's status API is the authority. Each provider module declares its client
(``Provider.status_api``); the reconciler (``workers/reconcile``) and the operators' ``reconcile`` commands run
them, and apply what they answer exactly as they apply a callback: as a canonical event, with ``source`` api.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from shared.canonical import CanonicalEvent

# The payment key of an expected payment the merchant knows by its order reference only: the provider's own id
# comes with the first answer or callback, which then takes the payment over.
EXPECTED_PREFIX = "expected:"


class Source(enum.StrEnum):
    """Where an event came from: a provider's callback, or the answer to a query of its status API."""

    CALLBACK = "callback"
    API = "api"


@dataclass(frozen=True, slots=True)
class PaymentRef:
    """What payhook knows of a payment, to ask the provider about it."""

    provider: str
    payment_key: str
    order_ref: str | None
    provider_payment_id: str | None
    # When payhook first saw (or was told to expect) it: a provider may not know a payment for a while.
    created_at: datetime | None = None
    # Known only by the merchant's reference (an expected payment whose provider id is not known yet).
    by_order_ref: bool = False


class Verdict(enum.StrEnum):
    FOUND = "found"
    # The provider does not know the payment (yet): nothing changes.
    NOT_FOUND = "not_found"
    # Nothing learned (rate-limited, a 5xx, a timeout, an answer that does not parse): ask again later.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Answer:
    verdict: Verdict
    # The provider's own words, for people: "PAID", "settlement", "TRANSACTION_NOT_FOUND", "HTTP 503".
    provider_status: str
    # FOUND: the payment as the provider has it now (event_key in the ``api:`` namespace).
    event: CanonicalEvent | None = None
    # The answer's body as received (kept as the event's raw body).
    raw: bytes = b""
    # UNAVAILABLE: the earliest time to ask again, when the provider said (Retry-After).
    retry_after: float | None = None

    @classmethod
    def unavailable(cls, why: str, retry_after: float | None = None) -> Answer:
        return cls(Verdict.UNAVAILABLE, why, retry_after=retry_after)


class StatusClient(Protocol):
    async def query(self, ref: PaymentRef) -> Answer:
        """The payment as the provider has it now. Never raises for what the provider or the network does:
        those are UNAVAILABLE answers."""


class SettlementReport(Protocol):
    async def refunded_on(self, day: date) -> list[str] | None:
        """The order references of the payments refunded on ``day`` (the provider's daily report), or None
        when the report could not be read (try again later)."""


class TokenStore(Protocol):
    """Bearer tokens shared by every process of a deployment (a provider counts token requests too)."""

    async def get(self, name: str) -> str | None: ...

    async def put(self, name: str, token: str, seconds: float) -> None: ...

    async def drop(self, name: str, token: str) -> None:
        """Forget ``token`` (refused by the provider), unless another process has replaced it already."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer from a provider's API."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    async def __call__(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> Reply | Answer:
        """The provider's reply, or an UNAVAILABLE answer when there was none (timeout, refused connection).
        Every request waits for the provider's rate limit first."""


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What a status client gets from the process that runs it."""

    send: Transport
    tokens: TokenStore
    # Unix seconds now (a test may move it).
    clock: Callable[[], float]


@dataclass(frozen=True, slots=True)
class Client:
    """A configured client: what it can query, and the daily report where the provider has one."""

    status: StatusClient
    report: SettlementReport | None = None


@dataclass(frozen=True, slots=True)
class StatusApi:
    """A provider's status API, declared in its module beside its callbacks."""

    # The settings it reads (base URLs, client credentials), for the docs and for accounts.
    settings: tuple[str, ...]
    # The client for the credentials in ``environ``, or None when they are not set (not reconciled).
    configure: Callable[[Mapping[str, str], ApiContext], Client | None]
    # Whether the credentials in ``environ`` suffice, without building anything.
    configured: Callable[[Mapping[str, str]], bool]
    # Where a provider's callbacks do not sign their status: whether, by the settings in
    # ``environ``, a callback's status waits for this API's confirmation before it is applied.
    confirms_callbacks: Callable[[Mapping[str, str]], bool] = field(default=lambda environ: False)
    # The payment key of a payment a merchant says to expect: from its order reference and, where the merchant
    # has it, the provider's payment id. Raises ValueError naming what is missing.
    expected_key: Callable[[str, str | None], str] = field(default=lambda order_ref, payment_id: order_ref)
    # Where the provider has a daily report of what it never notifies (refunds, say): the latest
    # day whose report is complete at Unix time ``now`` (the client's ``report`` reads it).
    report_day: Callable[[float], date] | None = None


class _Offline:
    """A transport and token store for building a client that is never asked anything."""

    async def __call__(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> Reply | Answer:
        raise RuntimeError("a client built to check its settings sends nothing")

    async def get(self, name: str) -> str | None:
        return None

    async def put(self, name: str, token: str, seconds: float) -> None:
        return None

    async def drop(self, name: str, token: str) -> None:
        return None


def check_settings(api: StatusApi, environ: Mapping[str, str]) -> None:
    """Builds the client for ``environ`` once, sending nothing: settings that do not parse (a private key that
    is not PEM, a verify that is neither value) raise ``SettingsError`` where they are given, not at every
    reconciliation round."""
    api.confirms_callbacks(environ)
    if api.configured(environ):
        offline = _Offline()
        api.configure(environ, ApiContext(send=offline, tokens=offline, clock=lambda: 0.0))
