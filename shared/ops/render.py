"""How the CLI shows things to people: rich tables that fit the terminal, colours that yield to ``NO_COLOR``
(and to a pipe), times as ISO 8601 with a human "3 min ago" beside them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

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


def terminal() -> Console:
    """stdout; rich itself turns colours off under ``NO_COLOR`` and when stdout is not a terminal, and takes
    the terminal's width (``COLUMNS`` where there is none)."""
    return Console(highlight=False)


def ago(moment: datetime | str | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``just now``, ``in 2 h``."""
    if moment is None:
        return "-"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"


def when(moment: str | None) -> str:
    """ISO time to the second, and how long ago."""
    if moment is None:
        return "-"
    return f"{moment[:19].replace('T', ' ')} ({ago(moment)})"


def styled(word: str | None) -> str:
    if word is None:
        return "-"
    style = STYLES.get(word)
    return f"[{style}]{word}[/]" if style else word


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str | None = None
) -> Table:
    shown = Table(title=title, caption=caption, header_style="bold", expand=False, pad_edge=False)
    for name in columns:
        shown.add_column(name, overflow="fold")
    for row in rows:
        shown.add_row(*("-" if cell is None else str(cell) for cell in row))
    return shown


def pretty(body: str) -> str:
    """A JSON body indented for reading; anything else as it came. A body nested deeper than the parser's
    recursion limit (40 KB of ``[``, say: what a fuzzer or a broken provider sends) is shown as it came too."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body
