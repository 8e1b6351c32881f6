"""The CLI's rendering helpers with hostile text: whatever a callback holds (markup, escape sequences, control
characters, nesting too deep to parse) prints as the text it is, and printing never fails."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from shared.ops.render import ago, block, clean, data, line, plural, pretty, shorten, styled, table

# What rich itself writes with colour on: SGR sequences only (and newlines).
SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = st.sampled_from(
    [
        "[/]",
        "[link=https://evil.example/reset]Click to fix[/link]",
        "[bold red]",
        "\\[",
        ":warning:",
        "\x1b[31m",
        "\x1b]8;;https://evil.example\x1b\\",
        "\x1b]0;title\x07",
        "\x9b2J",
        "\r",
        "\u202e",
        "\x00",
        "[" * 1200,
        '{"a":' * 1200,
    ]
)
TEXT = st.lists(st.one_of(HOSTILE, st.text(max_size=30)), max_size=6).map("".join)


def _printed(*renderables: object, colour: bool = True) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=colour, color_system="truecolor" if colour else None, width=80)
    for renderable in renderables:
        console.print(renderable)
    return out.getvalue()


@settings(max_examples=60, deadline=None)
@given(TEXT)
def test_hostile_text_prints_as_text(text: str) -> None:
    shown = _printed(
        table(text, ("a", "b", "c"), [(text, styled(text), shorten(text, 20))], caption=text),
        table(None, None, [("order", text)]),
        line("ref ", text, (text, "bold"), styled("paid")),
        block(pretty(text)),
    )
    assert not CONTROL.search(SGR.sub("", shown).replace("\n", ""))
    assert line(text).plain == data(text).plain == clean(text)
    assert "\n" not in clean(text) and CONTROL.search(clean(text)) is None


@settings(max_examples=60, deadline=None)
@given(TEXT)
def test_pretty_never_fails_and_keeps_what_it_cannot_parse(text: str) -> None:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        assert pretty(text) == text
    else:
        assert isinstance(pretty(text), str)


def test_bodies_too_deep_to_parse_or_print_come_back_raw() -> None:
    for deep in ("[" * 40_000, "[" * 40_000 + "]" * 40_000, '{"a":' * 5000 + "1" + "}" * 5000):
        assert pretty(deep) == deep
        assert _printed(block(pretty(deep)), colour=False).replace("\n", "") == deep


def test_markup_in_data_is_literal_and_links_are_not_made() -> None:
    link = "[link=https://evil.example/reset]Click to fix[/link]"
    shown = _printed(table("t", ("ref",), [(link,)]), line(link), block(link))
    assert "\x1b]8;" not in shown and shown.count(link) == 3
    assert _printed(data("[/]"), colour=False) == "[/]\n"


def test_blocks_keep_their_lines_and_lines_lose_theirs() -> None:
    assert clean("a\r\nb\tc\x1b[2Jd", block=True) == "a\nb\tc[2Jd"
    assert clean("a\nb\tc\x1b[2Jd") == "a b c[2Jd"
    assert clean(None) == "-"


def test_words() -> None:
    assert (plural(1, "dead letter"), plural(2, "dead letter")) == ("1 dead letter", "2 dead letters")
    assert (plural(1, "delivery", "deliveries"), plural(0, "delivery", "deliveries")) == ("1 delivery", "0 deliveries")
    assert shorten("x" * 100, 80) == "x" * 79 + "…" and shorten("short", 80) == "short"
    assert shorten("a\x1b[31mb", 80) == "a[31mb"


def test_the_future_is_in_so_many_seconds() -> None:
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert ago(now + timedelta(seconds=5), now) == "in 5 s"
    assert ago(now + timedelta(seconds=4.98), now) == "in 5 s"  # due in 5 s, read a moment later
    assert ago(now + timedelta(seconds=1), now) == "in 1 s"
    assert ago(now + timedelta(minutes=3), now) == "in 3 min"
    assert ago(now - timedelta(seconds=2), now) == "just now"
    assert ago(now - timedelta(seconds=5), now) == "5 s ago"
