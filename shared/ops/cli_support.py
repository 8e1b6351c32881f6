"""What every ``payhook`` command shares: one-line failures with a non-zero exit, the operations object,
JSON output."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click
import orjson
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared.ops.service import Operations, Refused
from shared.settings import Settings, SettingsError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    click.echo(f"payhook: {message}", err=True)
    sys.exit(1)


def _reasons(fn: F) -> F:
    """Every failure ends as one line on stderr and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SettingsError, Refused) as exc:
            _fail(str(exc))
        except SQLAlchemyError as exc:
            _fail(f"database error: {str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}")
        except RedisError as exc:
            _fail(f"redis error: {exc}")
        return None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _operations() -> Iterator[Operations]:
    ops = Operations(Settings.from_env(), pool_size=1)
    try:
        yield ops
    finally:
        ops.close()


def _emit(document: Any) -> None:
    click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode())


def _actor(fn: F) -> F:
    """``--actor NAME``: who the audit trail names for this command (default ``cli:<login name>``)."""
    return click.option("--actor", help="the name the audit trail records (default cli:<login name>)")(fn)


def _actor_name(given: str | None) -> str:
    if given:
        return given
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        return "cli:unknown"
