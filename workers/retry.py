"""Which failures are transient, and how long to wait before trying again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis.exceptions
from sqlalchemy import exc as sa_exc
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from shared.db.apply import DedupInvariantBroken
from shared.settings import Settings

MAX_WAIT_SECONDS = 2.0


def is_transient(error: BaseException) -> bool:
    """PostgreSQL down, restarting, a deadlock or serialization failure, a timeout; a Redis hiccup.

    Any database error that is not about the callback's data counts too: a table missing because workers
    started before the release migrated, a privilege not granted yet. Retrying waits for the fix; treating
    it as the callback's fault would dead-letter every callback meanwhile.
    """
    if isinstance(error, sa_exc.DBAPIError) and not is_permanent_db_error(error):
        return True
    return isinstance(
        error,
        sa_exc.TimeoutError
        | redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | redis.exceptions.BusyLoadingError
        | redis.exceptions.TryAgainError
        | DedupInvariantBroken,
    )


def is_permanent_db_error(error: BaseException) -> bool:
    """A statement PostgreSQL refuses because of the data (SQLSTATE classes 22 and 23): retrying the same
    callback cannot help."""
    return isinstance(error, sa_exc.DataError | sa_exc.IntegrityError) and not error.connection_invalidated


def retrying(settings: Settings, before_sleep: Callable[[RetryCallState], Any] | None = None) -> Retrying:
    """Retry transient failures for as long as it takes, with exponential backoff and full jitter.

    The longest wait is two seconds (so a service that comes back is used at once) and stays below a sixth
    of the claim timeout; ``before_sleep`` refreshes this worker's claims, so no other worker reclaims
    entries that are still being retried here.
    """
    return Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_random_exponential(multiplier=0.05, max=min(MAX_WAIT_SECONDS, settings.claim_timeout_seconds / 6)),
        before_sleep=before_sleep,
        reraise=True,
    )
