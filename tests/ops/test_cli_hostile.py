"""Text that came from a callback is data when the CLI prints it: an order reference, an event type or a body
never becomes rich markup, a terminal hyperlink or an escape sequence, and a body too deep to pretty-print is
shown raw (issue 18)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from shared.ops.cli import main
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.pipeline import drain_all, pivot_event, post

pytestmark = pytest.mark.integration
LINK = "[link=https://evil.example/reset]Click to fix[/link]"
OSC = "\x1b]"  # operating system commands: hyperlinks (OSC 8), window titles
# What rich itself writes when colour is on: SGR sequences only.
SGR = re.compile(r"\x1b\[[0-9;]*m")


def cli(settings: Settings, *args: str, **env: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix, **env), color=True)


def _letter(web: TestClient, settings: Settings, ref: str, event: str = "PAYMENT.UNHEARD_OF") -> int:
    """A dead letter naming ``ref`` (an authenticated callback of an event Pivot never sends)."""
    post(web, "pivot", pivot_event(event, f"ps-{len(ref)}", ref, "PAID"))
    drain_all(settings)
    found = json.loads(cli(settings, "dlq", "list", "--order-ref", ref, "--json").stdout)
    assert len(found) == 1, found
    return int(found[0]["id"])


def test_a_closing_tag_as_order_reference_lists(settings: Settings, web: TestClient) -> None:
    _letter(web, settings, "[/]")
    listed = cli(settings, "dlq", "list")
    assert listed.exit_code == 0, listed.output
    assert "[/]" in listed.stdout
    shown = cli(settings, "dlq", "list", "--search", "[/]")
    assert shown.exit_code == 0 and "[/]" in shown.stdout


def test_a_link_in_an_order_reference_is_printed_as_text(settings: Settings, web: TestClient) -> None:
    letter = _letter(web, settings, LINK, event="[link=https://evil.example/e]EVENT[/link]")
    for colour in ({"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}):
        shown = cli(settings, "dlq", "show", str(letter), **colour)
        assert shown.exit_code == 0, shown.output
        assert "\x1b]8;" not in shown.stdout
        assert LINK in shown.stdout and "[link=https://evil.example/e]EVENT[/link]" in shown.stdout
        listed = cli(settings, "dlq", "list", **colour)
        assert listed.exit_code == 0 and "\x1b]8;" not in listed.stdout


def test_a_body_nested_too_deeply_is_shown_raw(settings: Settings, web: TestClient) -> None:
    post(web, "pivot", b"[" * 40_000)
    drain_all(settings)
    [letter] = json.loads(cli(settings, "dlq", "list", "--json").stdout)
    shown = cli(settings, "dlq", "show", str(letter["id"]))
    assert shown.exit_code == 0, shown.output
    assert "[" * 1000 in shown.stdout.replace("\n", "")


def test_escape_sequences_in_a_reference_are_not_sent_to_the_terminal(settings: Settings, web: TestClient) -> None:
    ref = "\x1b[31mRED\x1b]0;owned\x07\x9b2J\rOK"
    post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-esc", ref, "PAID"))
    _letter(web, settings, ref + "-dead")
    for args in (("payments", "show", "pivot", ref), ("dlq", "list"), ("dlq", "list", "--since", ref)):
        shown = cli(settings, *args, FORCE_COLOR="1")
        if args[-2] == "--since":  # a usage error quotes what was typed: on stderr, cleaned too
            assert shown.exit_code == 1 and "31mRED" in shown.stderr and "owned" in shown.stderr
            assert "\x1b" not in shown.stderr and "\r" not in shown.stderr and "\x07" not in shown.stderr
            continue
        assert shown.exit_code == 0, shown.output
        printed = SGR.sub("", shown.stdout)
        assert "\x1b" not in printed and "\x9b" not in printed and "\x07" not in printed and "\r" not in printed
        assert "[31mRED" in printed
    missing = cli(settings, "payments", "show", "pivot", ref + "\x1b[2J")
    assert missing.exit_code == 1 and "\x1b" not in missing.stderr
