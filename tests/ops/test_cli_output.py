"""The CLI for people and for scripts: tables with headers that fit the terminal, colours only where they
belong, human times beside ISO ones, ``--json`` on every command, exit codes scripts can trust."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from shared.ops.cli import main
from shared.ops.render import ago
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.pipeline import drain_all, pivot_event, post

pytestmark = pytest.mark.integration
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Foreground colours (30-38, 90-97): what NO_COLOR turns off (bold and dim are not colours).
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")


def cli(settings: Settings, *args: str, **env: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix, **env), color=True)


def _clash(web: TestClient, settings: Settings) -> None:
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-c", "order-clash", "PAID"))
    post(web, "pivot", pivot_event("PAYMENT.CANCELLED", "ps-c", "order-clash", "CANCELLED"))
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-ok", "order-fine", "PAID"))
    post(web, "pivot", b"{broken")
    drain_all(settings)


def test_payments_conflicts_lists_what_a_merchant_must_act_on(settings: Settings, web: TestClient) -> None:
    _clash(web, settings)
    found = json.loads(cli(settings, "payments", "conflicts", "--json").stdout)
    assert [(c["order_ref"], c["status"], c["clashing_statuses"]) for c in found] == [
        ("order-clash", "paid", ["cancelled"])
    ]
    shown = cli(settings, "payments", "conflicts")
    assert shown.exit_code == 0
    assert "order-clash" in shown.stdout and "order-fine" not in shown.stdout and "clashed with" in shown.stdout


def test_tables_have_headers_fit_the_terminal_and_colour_only_when_asked(settings: Settings, web: TestClient) -> None:
    _clash(web, settings)
    narrow = cli(settings, "payments", "show", "pivot", "order-clash", COLUMNS="60", NO_COLOR="1")
    assert narrow.exit_code == 0
    assert all(len(line) <= 60 for line in narrow.stdout.splitlines())
    assert "received" in narrow.stdout and "outcome" in narrow.stdout  # headers
    assert not ANSI.search(narrow.stdout)
    coloured = cli(settings, "payments", "show", "pivot", "order-clash", FORCE_COLOR="1")
    assert COLOUR.search(coloured.stdout)
    no_colour = cli(settings, "payments", "show", "pivot", "order-clash", FORCE_COLOR="1", NO_COLOR="1").stdout
    assert not COLOUR.search(no_colour) and ANSI.search(no_colour)  # bold headers stay: they are not colours
    # Human times beside ISO ones.
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ s ago)\)", narrow.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ("stats",),
        ("dlq", "list"),
        ("dlq", "counts"),
        ("dlq", "show", "1"),
        ("payments", "show", "pivot", "order-clash"),
        ("payments", "conflicts"),
        ("audit", "list"),
        ("endpoints", "list"),
        ("deliveries", "list"),
        ("jobs", "list"),
        ("migrate",),
    ],
)
def test_every_command_has_json_for_scripts(settings: Settings, web: TestClient, args: tuple[str, ...]) -> None:
    _clash(web, settings)
    result = cli(settings, *args, "--json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("payments", "show", "pivot", "nope"), "no pivot payment with order reference 'nope'"),
        (("dlq", "show", "999"), "no dead letter 999"),
        (("dlq", "replay"), "give dead-letter ids, or --all"),
        (("dlq", "replay", "999"), "not waiting"),
        (("endpoints", "add", "ftp://x"), "http or https"),
        (("jobs", "cancel", "5"), "no job 5"),
    ],
)
def test_failures_exit_non_zero_with_one_line_on_stderr(settings: Settings, args: tuple[str, ...], says: str) -> None:
    result = CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and says in result.stderr


def test_stats_says_what_it_means(settings: Settings) -> None:
    shown = cli(settings, "stats", NO_COLOR="1")
    assert "oldest waiting callback" in shown.stdout and "nothing waiting" in shown.stdout
    assert "None" not in shown.stdout


def test_human_times() -> None:
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=2), now) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=10), now) == "3 min ago"
    assert ago((now - timedelta(hours=5)).isoformat(), now) == "5 h ago"
    assert ago(now + timedelta(days=2), now) == "in 2 d"
    assert ago(None, now) == "-"
