"""What every ``payhook`` command shares: one-line failures with a non-zero exit (usage errors and unreachable
servers included), the operator service, JSON output, who the audit trail names, operators' times, the values
a fixed set allows."""

from __future__ import annotations

import getpass
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import orjson
import psycopg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from shared.db.letter_filters import utc_time
from shared.ops.dev.envfile import settings_beside
from shared.ops.render import clean
from shared.ops.service import OperatorService, Refused
from shared.providers import all_providers
from shared.settings import Settings, SettingsError

F = TypeVar("F", bound=Callable[..., Any])
# redis-py's "Error 111 connecting to HOST:PORT. Connection refused.": the place is said once, our way.
_REDIS_SAYS_WHERE = re.compile(r"^Error [-\d]+ connecting to \S+ ")


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
    """One line on stderr (a message may quote outside text: it is cleaned), exit status 1."""
    click.echo(f"payhook: {clean(message)}", err=True)
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
            why = _first_line(getattr(exc, "orig", None) or exc)
            if _cannot_connect(exc):
                fail(f"cannot reach PostgreSQL at {_server('database')}: {why.rsplit('failed: ', 1)[-1]}{_unset()}")
            fail(f"database error: {why}")
        except (RedisConnectionError, RedisTimeoutError) as exc:
            fail(f"cannot reach Redis at {_server('redis')}: {_REDIS_SAYS_WHERE.sub('', _first_line(exc))}{_unset()}")
        except RedisError as exc:
            fail(f"redis error: {exc}")
        return None

    return wrapper  # type: ignore[return-value]


def _unset() -> str:
    """Where no URL was set, the default was tried: say so, and how to reach a payhook dev stack instead."""
    if os.environ.get("PAYHOOK_DATABASE_URL") or os.environ.get("PAYHOOK_REDIS_URL"):
        return ""
    return (
        " (no PAYHOOK_DATABASE_URL or PAYHOOK_REDIS_URL set and no .payhook/env here: run it in the folder of a"
        " payhook dev, or `set -a; . DIR/.payhook/env; set +a`)"
    )


def _first_line(exc: object) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _cannot_connect(exc: SQLAlchemyError) -> bool:
    """A failure to open a connection, or one lost: psycopg's own error with no SQLSTATE, or the server's
    connection, authentication and shutdown classes (a missing database is one too)."""
    orig = getattr(exc, "orig", None)
    if not isinstance(exc, OperationalError) or not isinstance(orig, psycopg.OperationalError):
        return False
    state = orig.sqlstate
    return state is None or state.startswith(("08", "28", "3D", "57P"))


def _server(which: str) -> str:
    """``host:port`` of the server the settings name (never the URL: it may hold a password)."""
    settings = Settings.from_env()
    if which == "database":
        url = make_url(settings.database_url)
        return f"{url.host or 'localhost'}:{url.port or 5432}"
    parsed = urlsplit(settings.redis_url)
    if parsed.scheme == "unix":
        return parsed.path
    return f"{parsed.hostname or 'localhost'}:{parsed.port or 6379}"


class OneLineErrors(click.Group):
    """Click's usage errors (three lines, exit status 2) made what the contract asks of every failure: one line
    on stderr naming the command, exit status 1."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            # A bare group asks what it can do: its help, on stdout, as asked for.
            click.echo(exc.ctx.get_help() if exc.ctx else "")
            sys.exit(0)
        except click.ClickException as exc:
            ctx = exc.ctx if isinstance(exc, click.UsageError) else None
            fail(_usage_line(exc.format_message(), ctx))
        except click.Abort:
            fail("aborted")
        sys.exit(code if isinstance(code, int) else 0)


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


def _usage_line(message: str, ctx: click.Context | None) -> str:
    """``dlq list: Invalid value for '--since': ... (see payhook dlq list --help)``."""
    if ctx is None:
        return message
    names = []
    at: click.Context | None = ctx
    while at is not None and at.parent is not None:  # the root is the program itself, however it was started
        names.append(at.info_name or "")
        at = at.parent
    where = " ".join(reversed(names))
    return f"{where + ': ' if where else ''}{message} (see {ctx.command_path} --help)"


class OneOf(click.ParamType):  # type: ignore[type-arg]
    """A value of a fixed set, read when the command runs (the providers are found by importing them); another
    value is refused naming the ones there are."""

    name = "name"

    def __init__(self, what: str, values: Callable[[], Iterable[str]]) -> None:
        self.what, self.values = what, values

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        known = sorted(self.values())
        if value not in known:
            self.fail(f"unknown {self.what} {clean(value)} (known: {', '.join(known)})", param, ctx)
        return str(value)


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


# ``PROVIDER`` arguments and ``--provider`` options: a provider payhook has.
PROVIDER = OneOf("provider", all_providers)
