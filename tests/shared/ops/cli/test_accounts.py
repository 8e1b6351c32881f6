"""``payhook accounts``: credentials given as ``KEY=@PATH`` that read as no text are one clear line on stderr and
exit status 1, before any server is reached. Run in-process with click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shared.ops.cli import main

# Nothing listens there: a command that got as far as the database would say it cannot reach it.
NOWHERE = {
    "PAYHOOK_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
    "PAYHOOK_REDIS_URL": "redis://127.0.0.1:9/0",
}


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("@{binary}", "is not UTF-8 text"),
        ("@", "callback_key=@ names no file"),
        ("@{missing}", "No such file or directory"),
        ("@{folder}", "Is a directory"),
        ("@/dev/zero", "is over 64 KiB: not a key or secret"),
        ("@{large}", "is over 64 KiB: not a key or secret"),
    ],
)
def test_a_credential_file_that_reads_as_no_text_is_named_in_one_line(tmp_path: Path, value: str, said: str) -> None:
    binary = tmp_path / "key.der"
    binary.write_bytes(b"\x30\x82\x01\x22\xff\xfe\x00")
    large = tmp_path / "backup.tar"
    large.write_text("x" * (64 * 1024 + 1))
    given = value.format(binary=binary, missing=tmp_path / "absent.key", folder=tmp_path, large=large)
    result = CliRunner().invoke(main, ["accounts", "add", "pivot", "acme", f"callback_key{'=' + given}"], env=NOWHERE)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("payhook: ") and said in lines[0], result.stderr


def test_every_accounts_command_says_what_it_does_in_the_help() -> None:
    listed = CliRunner().invoke(main, ["accounts", "--help"], env=NOWHERE).stdout
    commands = listed.split("Commands:")[1].strip().splitlines()
    assert len(commands) == 7 and all(len(line.split()) > 1 for line in commands), listed


def test_a_setting_given_twice_is_refused_rather_than_the_last_one_winning() -> None:
    given = ["accounts", "add", "pivot", "acme", "callback_key=new-key", "merchant_id=m", "CALLBACK_KEY=old-key"]
    result = CliRunner().invoke(main, given, env=NOWHERE)
    assert result.exit_code == 1
    assert result.stderr == "payhook: callback_key is given twice: give each setting once\n"


@pytest.mark.parametrize(
    "given",
    [
        ["accounts", "show", "pivto", "acme"],
        ["accounts", "list", "--provider", "pivto"],
        ["accounts", "disable", "pivto", "acme"],
        ["accounts", "rotate", "pivto", "acme", "callback_key=x"],
    ],
)
def test_a_misspelt_provider_is_named_as_unknown_with_the_known_ones(given: list[str]) -> None:
    result = CliRunner().invoke(main, given, env=NOWHERE)
    assert result.exit_code == 1
    assert "unknown provider pivto (known: midtrans, pivot, revenue-monster)" in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
