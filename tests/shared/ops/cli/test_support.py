"""What every ``payhook`` command shares: a failure of the settings, the database or Redis ends as one line on
stderr with exit code 1; JSON output that reads back; the audit trail's actor; operators' times. Commands of
the test's own, run in-process with click's runner; no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import orjson
import pytest
from click.testing import CliRunner
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from shared.ops.cli.support import IsoTime, actor_name, actor_option, emit, reports_failures
from shared.settings import SettingsError


def _failing(error: Exception) -> click.Command:
    @click.command()
    @reports_failures
    def command() -> None:
        raise error

    return command


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (SettingsError("PAYHOOK_DATABASE_URL is missing"), "PAYHOOK_DATABASE_URL is missing"),
        (OperationalError("SELECT 1", {}, Exception("connection refused\nmore detail")), "connection refused"),
        (RedisConnectionError("Connection refused by Redis"), "Connection refused by Redis"),
    ],
    ids=["settings", "database", "redis"],
)
def test_a_failure_is_one_line_on_stderr_and_exit_code_1(error: Exception, named: str) -> None:
    result = CliRunner().invoke(_failing(error))
    assert result.exit_code == 1
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_other_errors_are_not_swallowed() -> None:
    result = CliRunner().invoke(_failing(ValueError("a bug")))
    assert isinstance(result.exception, ValueError)


def test_emitted_json_reads_back_with_times_as_text() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)

    @click.command()
    def command() -> None:
        emit({"id": 1, "at": moment, "items": [1, 2]})

    assert orjson.loads(CliRunner().invoke(command).stdout) == {
        "id": 1,
        "at": "2026-01-01T00:00:00+00:00",
        "items": [1, 2],
    }


def test_the_actor_is_given_or_the_login_name() -> None:
    assert actor_name("ana") == "ana"
    assert actor_name(None).startswith("cli:") and actor_name("") != ""

    @click.command()
    @actor_option
    def command(actor: str | None) -> None:
        click.echo(actor_name(actor))

    assert CliRunner().invoke(command, ["--actor", "ops-bot"]).stdout.strip() == "ops-bot"


def test_times_with_or_without_a_zone() -> None:
    time = IsoTime()
    assert time.convert("2026-01-01T07:00:00+07:00", None, None) == datetime(2026, 1, 1, tzinfo=UTC)
    assert time.convert("2026-01-01T00:00:00", None, None) == datetime(2026, 1, 1, tzinfo=UTC)
    assert time.convert("2026-01-01T00:00:00Z", None, None).utcoffset() == timedelta(0)
    assert time.convert(datetime(2026, 1, 1, tzinfo=UTC), None, None) == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(click.BadParameter):
        time.convert("yesterday", None, None)
