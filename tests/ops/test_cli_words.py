"""The CLI's words (issue 21): usage errors as one line and exit status 1, fixed sets that name their values,
counts and plurals right, attempts counted across retries, a purge that asks first, unreachable servers named by
host and port."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from shared.ops.cli import dlq as dlq_cli
from shared.ops.cli import main
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.hooks import Answer, Endpoint
from tests.support.net import free_port
from tests.support.outbox import deliver_until
from tests.support.pipeline import drain_all, pivot_event, post, scalar

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli(settings: Settings, *args: str, input: str | None = None, **env: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix, NO_COLOR="1", **env), input=input)


def _one_line_failure(result: Any, says: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("payhook: "), result.stderr
    assert says in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("dlq", "list", "--since", "yesterday"), "dlq list: Invalid value for '--since': 'yesterday' is not an ISO"),
        (("dlq", "list", "--reason", "nonsense"), "unknown reason nonsense (known: crashed_worker, "),
        (("dlq", "replay", "--all", "--reason", "nonsense"), "invalid_json"),
        (("dlq", "list", "--provider", "nope"), "unknown provider nope (known: midtrans, pivot, revenue-monster)"),
        (("deliveries", "list", "--status", "nope"), "'nope' is not one of 'pending', 'sending', 'delivered'"),
        (("payments", "show", "nosuchprovider", "x"), "unknown provider nosuchprovider (known: midtrans, pivot, "),
        (("payments", "conflicts", "--provider", "x"), "unknown provider x"),
        (("dlq", "show"), "dlq show: Missing argument 'LETTER_ID'"),
        (("dlq", "show", "seven"), "'seven' is not a valid integer"),
        (("dlq", "list", "--limit", "0"), "--limit"),
        (("nosuch",), "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_1(settings: Settings, args: tuple[str, ...], says: str) -> None:
    _one_line_failure(cli(settings, *args), says)


def test_a_bare_group_shows_its_help(settings: Settings) -> None:
    shown = cli(settings, "dlq")
    assert shown.exit_code == 0 and "purge" in shown.stdout and shown.stderr == ""


def test_the_reasons_named_are_the_ones_the_workers_give() -> None:
    """Every reason code the workers dead-letter with, literally, is one ``--reason`` takes."""
    given = set()
    for source in (ROOT / "workers").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Rejected" and len(node.args) > 2:
                reason = node.args[2]
                if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
                    given.add(reason.value)
    assert given and given <= dlq_cli.reasons()
    assert {"invalid_json", "unknown_event", "missing_field"} <= dlq_cli.reasons()


def _letters(web: TestClient, settings: Settings, count: int) -> list[int]:
    for i in range(count):
        post(web, "pivot", f"not json {i}".encode())
    drain_all(settings)
    return [x["id"] for x in json.loads(cli(settings, "dlq", "list", "--json").stdout)]


def test_counts_and_plurals(settings: Settings, web: TestClient, engine: Engine) -> None:
    [letter] = _letters(web, settings, 1)
    with engine.begin() as conn:
        conn.execute(text("UPDATE dead_letters SET detail = :d WHERE id = :i"), {"d": "why " * 40, "i": letter})
    listed = cli(settings, "dlq", "list").stdout
    assert "1 of 1 dead letter waiting (invalid_json 1)" in listed
    assert "why why…" in listed and "why " * 30 not in listed
    assert "1 dead letter in all" in cli(settings, "dlq", "counts").stdout
    replayed = cli(settings, "dlq", "replay", str(letter))
    assert replayed.exit_code == 0 and replayed.stdout == "replayed 1 dead letter\n"


def _empty_header(shown: str) -> bool:
    return any(re.fullmatch(r"[│┃ ]+", line) for line in shown.splitlines())


def test_facts_have_no_empty_header_row(settings: Settings, web: TestClient) -> None:
    [letter] = _letters(web, settings, 1)
    for args in (("stats",), ("dlq", "show", str(letter))):
        shown = cli(settings, *args)
        assert shown.exit_code == 0, shown.output
        assert not _empty_header(shown.stdout), shown.stdout
    listed = cli(settings, "dlq", "list").stdout
    assert "reason" in listed and not _empty_header(listed)  # a list keeps its header row


def test_purge_asks_a_terminal_and_not_a_script(
    settings: Settings, web: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = _letters(web, settings, 3)
    monkeypatch.setattr(dlq_cli, "_interactive", lambda: True)  # stdin a terminal: CliRunner's never is
    declined = cli(settings, "dlq", "purge", str(first), input="n\n")
    assert declined.exit_code == 1 and "purge 1 dead letter for good?" in declined.stderr
    assert declined.stderr.endswith("payhook: nothing purged\n")
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 3
    agreed = cli(settings, "dlq", "purge", str(first), input="y\n")
    assert agreed.exit_code == 0 and agreed.stdout == "purged 1 dead letter\n"
    asked_all = cli(settings, "dlq", "purge", "--all", input="n\n")
    assert asked_all.exit_code == 1 and "purge 2 dead letters (every one the filters select" in asked_all.stderr
    assert cli(settings, "dlq", "purge", str(second), "--yes").stdout == "purged 1 dead letter\n"  # not asked
    monkeypatch.undo()
    # Off a terminal (a script, as the contract's command line runs it) nothing is asked.
    scripted = cli(settings, "dlq", "purge", str(third))
    assert scripted.exit_code == 0 and scripted.stdout == "purged 1 dead letter\n" and scripted.stderr == ""
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0


def test_attempts_are_counted_across_retries(settings: Settings, engine: Engine, web: TestClient) -> None:
    answers = [Answer(500, body=b"[/] \x1b]8;;https://evil.example\x07click"), Answer(503)]
    with Endpoint(lambda _r, n: answers[n] if n < len(answers) else Answer()) as hook:
        assert cli(settings, "endpoints", "add", hook.url).exit_code == 0
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-att", "order-att", "PAID"))
        drain_all(settings)
        fast = Settings.from_env(env_for(settings.queue_prefix, PAYHOOK_DELIVERY_RETRY_SCHEDULE="0.1"))
        deliver_until(fast, lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'failed'") == 1)
        [delivery] = json.loads(cli(settings, "deliveries", "list", "--json").stdout)
        assert cli(settings, "deliveries", "retry", str(delivery["id"])).stdout == "retried 1 delivery\n"
        deliver_until(fast, lambda: len(hook.events()) == 3)
        deliver_until(fast, lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == 1)
    [listed] = json.loads(cli(settings, "deliveries", "list", "--json").stdout)
    assert (listed["attempts"], listed["attempts_total"]) == (1, 3)
    assert "3 (1 since retry)" in cli(settings, "deliveries", "list").stdout
    shown = cli(settings, "deliveries", "show", str(delivery["id"]), FORCE_COLOR="1")
    assert shown.exit_code == 0, shown.output
    assert "delivered after 3 attempts (1 since retry)" in shown.stdout
    assert "[/] ]8;;https://evil.example" in shown.stdout and "\x1b]8;" not in shown.stdout


def test_unreachable_servers_are_named_by_host_and_port(settings: Settings, web: TestClient) -> None:
    [letter] = _letters(web, settings, 1)
    port = free_port()
    database = f"postgresql+psycopg://postgres@127.0.0.1:{port}/payhook"
    _one_line_failure(
        cli(settings, "stats", PAYHOOK_DATABASE_URL=database), f"cannot reach PostgreSQL at 127.0.0.1:{port}: "
    )
    redis_url = f"redis://127.0.0.1:{port}/0"
    replay = cli(settings, "dlq", "replay", str(letter), PAYHOOK_REDIS_URL=redis_url)
    _one_line_failure(replay, f"cannot reach Redis at 127.0.0.1:{port}: ")


def test_with_no_url_set_a_connection_error_says_how_to_reach_a_dev_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.ops.cli import support

    monkeypatch.setenv("PAYHOOK_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    assert support._unset() == ""
    monkeypatch.delenv("PAYHOOK_DATABASE_URL")
    monkeypatch.delenv("PAYHOOK_REDIS_URL", raising=False)
    assert ".payhook/env" in support._unset() and "PAYHOOK_DATABASE_URL" in support._unset()
