"""Charts drawn by the server as inline SVG: the console runs no script (its CSP allows none), so a chart is
markup. Pure functions of their numbers; every label is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

# Colours that stay apart for the common kinds of colour blindness (Okabe and Ito), as presentation
# attributes: the CSP forbids inline style, not these.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#f0e442", "#000000")
WIDTH, HEIGHT = 960, 200
# Room for the axis labels on the left and below, and the legend below them.
LEFT, TOP, RIGHT, AXIS = 48, 12, 8, 22
LEGEND_ROW = 18
LEGEND_GAP = 14


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[int]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``value`` (at least 1): the axis's top."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def line_chart(
    title: str, start: datetime, series: Sequence[Series], *, width: int = WIDTH, gauge: bool = False
) -> Markup:
    """One line per series over the same minutes (the first at ``start``), a shared y axis from zero, the
    time at both ends and the middle, and a legend with each series' total (for a ``gauge``, its last value:
    samples do not add up)."""
    minutes = max((len(s.values) for s in series), default=0)
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - AXIS
    legend_rows = (len(series) + 2) // 3
    height = HEIGHT + LEGEND_GAP + legend_rows * LEGEND_ROW
    top = nice_ceiling(max((max(s.values, default=0) for s in series), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        *_axes(start, minutes, top, plot_w, plot_h),
    ]
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = _points(one.values, minutes, top, plot_w, plot_h)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
    parts.extend(_legend(series, width, gauge))
    if not series:
        parts.append(f'<text x="{LEFT + 8}" y="{TOP + plot_h / 2:.0f}" font-size="12">No figures yet.</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers, and labels escaped above


def _points(values: Sequence[int], minutes: int, top: int, plot_w: int, plot_h: int) -> str:
    points = [(LEFT + _x(i, minutes, plot_w), TOP + plot_h - v * plot_h / top) for i, v in enumerate(values)]
    if len(points) == 1:  # a single minute is a point: drawn as a short level line, so that it shows
        points.append((LEFT + plot_w, points[0][1]))
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _x(index: int, minutes: int, plot_w: int) -> float:
    return 0.0 if minutes <= 1 else index * plot_w / (minutes - 1)


def _axes(start: datetime, minutes: int, top: int, plot_w: int, plot_h: int) -> list[str]:
    base = TOP + plot_h
    lines = [
        f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + plot_w}" y2="{base}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#888"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{LEFT - 4}" y="{base}" text-anchor="end" font-size="11">0</text>',
    ]
    for fraction, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        at = start + timedelta(minutes=round(fraction * max(minutes - 1, 0)))
        x = LEFT + fraction * plot_w
        lines.append(f'<text x="{x:.0f}" y="{base + 16}" text-anchor="{anchor}" font-size="11">{at:%H:%M} UTC</text>')
    return lines


def _legend(series: Sequence[Series], width: int, gauge: bool) -> list[str]:
    column = (width - LEFT) // 3
    items = []
    for index, one in enumerate(series):
        x = LEFT + (index % 3) * column
        y = HEIGHT + LEGEND_GAP + (index // 3) * LEGEND_ROW
        figure = f"now {one.values[-1] if one.values else 0}" if gauge else str(sum(one.values))
        colour = PALETTE[index % len(PALETTE)]
        items.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{y}" font-size="12">{escape(one.label)} ({figure})</text>'
        )
    return items
