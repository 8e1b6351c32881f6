"""deploy/grafana/payhook.json: every panel has a title, a unique id and the ``${datasource}`` variable as its
datasource, and every PromQL expression names only metrics payhook exports (or ``up``) and parses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import DEPLOY, yaml
from tests.deploy.test_alerts import assert_ok, metric_names, promtool, unknown_metrics

DASHBOARD = DEPLOY / "grafana" / "payhook.json"
VARIABLE = "${datasource}"
# Every metric the brief's list has; the dashboard shows them all.
SHOWN = {
    "payhook_callbacks_total",
    "payhook_deliveries_total",
    "payhook_delivery_lag_seconds_bucket",
    "payhook_append_seconds_bucket",
    "payhook_append_batch_size_bucket",
    "payhook_queue_depth",
    "payhook_queue_in_flight",
    "payhook_queue_oldest_seconds",
    "payhook_spooled_callbacks",
    "payhook_dead_letters_waiting",
    "payhook_events_total",
    "payhook_dead_letters_total",
    "payhook_batch_size_bucket",
    "payhook_commit_seconds_bucket",
    "payhook_end_to_end_seconds_bucket",
    "payhook_reclaimed_total",
    "payhook_transient_retries_total",
    "up",
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside rows included."""
    found: list[dict[str, Any]] = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel."""
    return [(panel["title"], target["expr"]) for panel in panels(board) for target in panel.get("targets", [])]


def refers_to_variable(datasource: Any) -> bool:
    if isinstance(datasource, dict):
        return bool(datasource.get("uid") == VARIABLE and datasource.get("type", "prometheus") == "prometheus")
    return bool(datasource == VARIABLE)


def check_expressions(board: dict[str, Any]) -> list[str]:
    """A line per expression that names a metric payhook does not export."""
    return [
        f"{title}: {sorted(unknown_metrics(expr))} in {expr}"
        for title, expr in expressions(board)
        if unknown_metrics(expr)
    ]


def test_the_dashboard_has_a_prometheus_datasource_variable() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_has_a_title_a_unique_id_and_the_datasource_variable() -> None:
    board = dashboard()
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), ids
    for panel in panels(board):
        assert str(panel.get("title", "")).strip(), panel
        assert refers_to_variable(panel.get("datasource")), panel["title"]
        assert panel.get("targets"), panel["title"]
        for target in panel["targets"]:
            assert refers_to_variable(target.get("datasource", panel["datasource"])), panel["title"]
            assert target["expr"].strip(), panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_every_expression_names_only_exported_metrics() -> None:
    board = dashboard()
    assert expressions(board)
    assert check_expressions(board) == []


def test_every_metric_is_shown() -> None:
    used = set().union(*(metric_names(expr) for _, expr in expressions(dashboard())))
    assert used >= SHOWN, SHOWN - used


def test_the_checker_rejects_an_unknown_metric() -> None:
    board = dashboard()
    board["panels"].append(
        {
            "id": 999,
            "title": "Typo",
            "datasource": {"type": "prometheus", "uid": VARIABLE},
            "targets": [{"refId": "A", "expr": "sum(rate(payhook_callback_total[$__rate_interval]))"}],
        }
    )
    assert check_expressions(board) == [
        "Typo: ['payhook_callback_total'] in sum(rate(payhook_callback_total[$__rate_interval]))"
    ]


def test_every_expression_parses(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule, Grafana's ``$__rate_interval`` made 5m."""
    exprs = [expr for _, expr in expressions(dashboard())]
    recorded = [
        {"record": f"payhook:dashboard_{index}", "expr": re.sub(r"\$__rate_interval|\$__interval", "5m", expr)}
        for index, expr in enumerate(exprs)
    ]
    rules = tmp_path / "dashboard.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    assert_ok(promtool("check", "rules", rules))


@pytest.mark.parametrize("datasource", ["prometheus", {"type": "prometheus", "uid": "abc123"}, None])
def test_a_fixed_datasource_is_refused(datasource: Any) -> None:
    assert not refers_to_variable(datasource)
