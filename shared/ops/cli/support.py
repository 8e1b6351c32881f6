"""What every ``payhook`` command shares: one-line failures with a non-zero exit, the operator service, JSON
output, who the audit trail names, operators' times."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

import click
import orjson
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared.db.letter_filters import utc_time
from shared.ops.dev.envfile import settings_beside
from shared.ops.service import OperatorService, Refused
from shared.settings import Settings, SettingsError

F = TypeVar("F", bound=Callable[..., Any])


def use_dev_settings() -> None:
    """Beside a ``payhook dev`` (``.payhook/env`` here) and with no database or Redis named, use its
    settings, and say so: a command must never silently pick a stack."""
    found = settings_beside(os.environ)
    if found is None:
        return
    path, settings = found
    for name, value in settings.items():
        os.environ.setdefault(name, value)
    unset = "neither PAYHOOK_DATABASE_URL nor PAYHOOK_REDIS_URL is set"
    click.echo(f"payhook: using the settings of payhook dev in {path} ({unset})", err=True)


def fail(message: str) -> None:
    click.echo(f"payhook: {message}", err=True)
    sys.exit(1)


def reports_failures(fn: F) -> F:
    """Every failure ends as one line on stderr and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SettingsError, Refused) as exc:
            fail(str(exc))
        except SQLAlchemyError as exc:
            fail(f"database error: {str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}")
        except RedisError as exc:
            fail(f"redis error: {exc}")
        return None

    return wrapper  # type: ignore[return-value]


@contextmanager
def operator_service() -> Iterator[OperatorService]:
    ops = OperatorService(Settings.from_env(), pool_size=1)
    try:
        yield ops
    finally:
        ops.close()


def emit(document: Any) -> None:
    click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode())


def actor_option(fn: F) -> F:
    """``--actor NAME``: who the audit trail names for this command (default ``cli:<login name>``)."""
    return click.option("--actor", help="the name the audit trail records (default cli:<login name>)")(fn)


def actor_name(given: str | None) -> str:
    if given:
        return given
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        return "cli:unknown"


class IsoTime(click.ParamType):  # type: ignore[type-arg]
    """ISO 8601, with or without a zone (``Z``, ``+07:00``); a time without one is UTC."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return utc_time(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time", param, ctx)
