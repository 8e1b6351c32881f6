"""How the CLI shows things to people: rich tables that fit the terminal, colours that yield to ``NO_COLOR``
(and to a pipe), times as ISO 8601 with a human "3 min ago" beside them.

Everything that came from outside (a callback's order reference, event type, body and headers, a reason's
detail, an endpoint's URL and answers) is data: it is printed as ``rich.text.Text``, never parsed as rich markup
(``[link=...]`` would print a clickable OSC 8 link, ``[/]`` would crash the table), and it loses its control
characters first (an ESC in an order reference must not recolour or retitle the operator's terminal)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

STYLES = {
    "applied": "green",
    "delivered": "green",
    "done": "green",
    "paid": "green",
    "duplicate": "dim",
    "stale": "yellow",
    "pending": "yellow",
    "running": "cyan",
    "sending": "cyan",
    "conflict": "magenta",
    "dead_letter": "red",
    "failed": "red",
    "cancelled": "dim",
}
# C0 and C1 control characters (ESC among them), DEL, and the bidirectional overrides and isolates that make a
# terminal show text in another order than it is. A block of text keeps its newlines and tabs.
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_IN_BLOCK = re.compile(f"[{_CONTROL}]")
_IN_LINE = re.compile(f"[{_CONTROL}\t\n]")
ELLIPSIS = "…"


def terminal() -> Console:
    """stdout; rich itself turns colours off under ``NO_COLOR`` and when stdout is not a terminal, and takes
    the terminal's width (``COLUMNS`` where there is none)."""
    return Console(highlight=False)


def clean(value: object, *, block: bool = False) -> str:
    """Outside text made safe to print: control characters removed (a line's tabs and newlines become spaces,
    a block keeps them; a carriage return never survives, it would let text overwrite its own line)."""
    text = "-" if value is None else str(value)
    if block:
        return _IN_BLOCK.sub("", text.replace("\r\n", "\n"))
    return _IN_LINE.sub(lambda m: " " if m.group() in "\t\n" else "", text)


def data(value: object, style: str = "") -> Text:
    """Outside text as one line of plain text: never markup, never a control sequence."""
    return value if isinstance(value, Text) else Text(clean(value), style=style)


def line(*parts: object) -> Text:
    """One line from pieces: a ``Text`` keeps its style, a ``(text, style)`` pair is styled, anything else is
    data."""
    shown = Text()
    for part in parts:
        if isinstance(part, tuple):
            shown.append(clean(part[0]), style=part[1])
        else:
            shown.append(data(part))
    return shown


def shorten(value: str | None, width: int) -> str:
    """At most ``width`` characters of one line, an ellipsis where it was cut."""
    text = clean(value or "")
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 dead letter``, ``2 dead letters``, ``3 deliveries`` (given the plural)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def ago(moment: datetime | str | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``just now``, ``in 5 s``, ``in 2 h``."""
    if moment is None:
        return "-"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    # A moment a few seconds past is "just now"; one a few seconds ahead (an attempt due) is "in 4 s", rounded
    # up so that a delay of 5 s read a few milliseconds later is still "in 5 s".
    if future and seconds >= 0.5:
        seconds = float(round(seconds))
    elif seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "now"


def when(moment: str | None) -> str:
    """ISO time to the second, and how long ago."""
    if moment is None:
        return "-"
    return f"{moment[:19].replace('T', ' ')} ({ago(moment)})"


def styled(word: str | None) -> Text:
    """A status word in its colour (an unknown word, from outside, plain)."""
    if word is None:
        return Text("-")
    return data(word, STYLES.get(word, ""))


def table(
    title: str | Text | None,
    columns: Sequence[str] | None,
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | Text | None = None,
) -> Table:
    """A table whose cells are data (a ``Text`` keeps its style); without ``columns``, two columns of facts
    with no header row."""
    shown = Table(
        title=None if title is None else data(title),
        caption=None if caption is None else data(caption),
        header_style="bold",
        show_header=columns is not None,
        expand=False,
        pad_edge=False,
    )
    for name in columns or ("", ""):
        shown.add_column(name, overflow="fold")
    for row in rows:
        shown.add_row(*(data(cell) for cell in row))
    return shown


def pretty(body: str) -> str:
    """A JSON body indented for reading; anything else, or JSON too deep to parse or print, as it came."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body


def block(body: str) -> Text:
    """A body, a traceback: many lines of outside text, plain."""
    return Text(clean(body, block=True))
