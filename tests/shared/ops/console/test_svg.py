"""The Overview's charts are well-formed SVG drawn from their numbers, with every label escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from shared.ops.console.svg import Series, line_chart, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 5), (5, 5), (7, 10), (11, 20), (101, 200), (999, 1000)])
def test_the_axis_top_is_a_round_number_at_least_the_largest_value(value: int, top: int) -> None:
    assert nice_ceiling(value) == top


def test_a_chart_is_valid_svg_with_one_line_per_series_and_a_point_per_minute() -> None:
    chart = line_chart("Callbacks", START, [Series("pivot", [0, 4, 2]), Series("midtrans", [1, 1, 1])])
    root = _parse(chart)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    lines = root.findall(f"{SVG}polyline")
    assert [len((line.get("points") or "").split()) for line in lines] == [3, 3]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "pivot (6)" in texts and "midtrans (3)" in texts  # the legend gives each series' total
    assert "5" in texts and "14:00 UTC" in texts and "14:02 UTC" in texts  # y axis top; time at both ends


def test_the_largest_value_reaches_the_top_and_zero_the_axis() -> None:
    root = _parse(line_chart("Backlog", START, [Series("queued", [0, 10])]))
    points = [tuple(map(float, p.split(","))) for p in (root.find(f"{SVG}polyline").get("points") or "").split()]  # type: ignore[union-attr]
    assert points[0][1] > points[1][1]  # SVG's y grows downwards
    assert points[1][1] == 12.0  # the plot's top edge


def test_labels_and_title_are_escaped() -> None:
    chart = line_chart('<script>alert("t")</script>', START, [Series("<b>&evil</b>", [1])])
    assert "<script>" not in chart and "<b>" not in chart
    root = _parse(chart)  # still well-formed
    assert root.find(f"{SVG}title").text == '<script>alert("t")</script>'  # type: ignore[union-attr]
    assert "<b>&evil</b> (1)" in [t.text for t in root.iter(f"{SVG}text")]


def test_a_chart_without_figures_says_so() -> None:
    root = _parse(line_chart("Outcomes", START, []))
    assert root.findall(f"{SVG}polyline") == []
    assert "No figures yet." in [t.text for t in root.iter(f"{SVG}text")]


def test_a_gauges_legend_gives_its_last_sample_not_a_sum() -> None:
    root = _parse(line_chart("Backlog", START, [Series("queued", [4, 9, 2])], gauge=True))
    assert "queued (now 2)" in [t.text for t in root.iter(f"{SVG}text")]
