"""deploy/prometheus/: promtool checks the rules, runs their unit tests (alerts_test.yml) and checks the example
config; every alert carries a severity, a summary and a runbook, and names only metrics payhook exports.

promtool comes from Debian's ``prometheus`` package, which ``scripts/test-tools.sh`` installs for the test stage
(without starting its daemon). Without it these tests fail rather than skip: a missing tool must not pass."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import DEPLOY, ROOT, yaml

PROMETHEUS = DEPLOY / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"

# What payhook exports: the web process (job payhook-web) and the worker (job payhook-worker).
COUNTERS = frozenset(
    {
        "payhook_callbacks_total",
        "payhook_events_total",
        "payhook_dead_letters_total",
        "payhook_reclaimed_total",
        "payhook_transient_retries_total",
        "payhook_deliveries_total",
        "payhook_reconcile_checks_total",
    }
)
GAUGES = frozenset(
    {
        "payhook_queue_depth",
        "payhook_queue_in_flight",
        "payhook_queue_oldest_seconds",
        "payhook_spooled_callbacks",
        "payhook_dead_letters_waiting",
        "payhook_unresolved_payments",
    }
)
HISTOGRAMS = frozenset(
    {
        "payhook_append_seconds",
        "payhook_append_batch_size",
        "payhook_batch_size",
        "payhook_commit_seconds",
        "payhook_end_to_end_seconds",
        "payhook_delivery_seconds",
        "payhook_delivery_lag_seconds",
        "payhook_provider_api_seconds",
    }
)
# A classic histogram is only ever queried through its series: NAME_bucket, NAME_sum, NAME_count.
KNOWN_SERIES = (
    COUNTERS | GAUGES | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")} | {"up"}
)
REQUIRED_ALERTS = frozenset(
    {
        "PayhookDeadLettersGrowing",
        "PayhookDeliveryFailures",
        "PayhookDeliveryLagging",
        "PayhookEndpointDisabled",
        "PayhookBacklogOld",
        "PayhookProviderSilent",
        "PayhookReceiver503Ratio",
        "PayhookNoWorker",
        "PayhookSpoolInUse",
        "PayhookReceiverDown",
        "PayhookCallbacksMissing",
        "PayhookProviderApiFailing",
        "PayhookPaymentsUnresolved",
    }
)

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_METRIC = re.compile(r"(?<![\w:])(payhook_\w+|up)\b")


def metric_names(expr: str) -> set[str]:
    """The ``payhook_*`` and ``up`` metric names a PromQL expression uses (string literals, such as label
    values, left out)."""
    return set(_METRIC.findall(_QUOTED.sub('""', expr)))


def unknown_metrics(expr: str) -> set[str]:
    """The metric names of ``expr`` that payhook does not export (a histogram's bare name included)."""
    return metric_names(expr) - KNOWN_SERIES


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool is missing: the test stage installs Debian's `prometheus` package for it "
            "(scripts/test-tools.sh, or `apt-get install --no-install-recommends prometheus`)"
        )
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    groups: list[dict[str, Any]] = document["groups"]
    assert [group["name"] for group in groups] == ["payhook"]
    found: list[dict[str, Any]] = groups[0]["rules"]
    return found


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", ALERTS)
    assert_ok(result)
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", ALERTS_TEST)
    assert_ok(result)
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_example_config() -> None:
    result = promtool("check", "config", CONFIG)
    assert_ok(result)
    config = yaml.safe_load(CONFIG.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"payhook-web": ["localhost:8000"], "payhook-worker": ["localhost:9108"]}


def test_a_broken_rule_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n"
        "  - name: payhook\n"
        "    rules:\n"
        "      - alert: Broken\n"
        "        expr: sum(rate(payhook_callbacks_total[5m]) > \n"
        "        for: 5m\n"
    )
    result = promtool("check", "rules", broken)
    assert result.returncode != 0, result.stdout
    assert "FAILED" in result.stdout + result.stderr


def test_a_failing_unit_test_is_reported(tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against rules whose backlog threshold is far too high."""
    (tmp_path / "alerts.yml").write_text(
        ALERTS.read_text().replace("max(payhook_queue_oldest_seconds) > 60", "max(payhook_queue_oldest_seconds) > 600")
    )
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yml")
    result = promtool("test", "rules", tmp_path / "alerts_test.yml")
    assert result.returncode != 0, result.stdout
    assert "PayhookBacklogOld" in result.stdout + result.stderr


def test_every_required_alert_is_there() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), names
    assert set(names) >= REQUIRED_ALERTS, REQUIRED_ALERTS - set(names)


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule.get("alert")))
def test_every_alert_has_for_severity_summary_and_runbook(rule: dict[str, Any]) -> None:
    assert "alert" in rule, f"only alerting rules here: {rule}"
    assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), rule
    assert rule["labels"]["severity"] in {"page", "ticket"}, rule
    annotations = rule["annotations"]
    assert annotations["summary"].strip(), rule
    runbook = annotations["runbook"]
    # What to look at first: a payhook command, a log or a named fault.
    assert "payhook " in runbook or "log" in runbook, runbook


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule.get("alert")))
def test_every_alert_names_only_exported_metrics(rule: dict[str, Any]) -> None:
    expr = str(rule["expr"])
    assert metric_names(expr), f"{rule['alert']} names no payhook metric: {expr}"
    assert not unknown_metrics(expr), f"{rule['alert']}: {unknown_metrics(expr)} not exported by payhook"


def test_every_alert_has_unit_test_cases() -> None:
    """Every alert appears in alerts_test.yml at least once firing and once silent."""
    document = yaml.safe_load(ALERTS_TEST.read_text())
    assert document["rule_files"] == ["alerts.yml"]
    fired: set[str] = set()
    silent: set[str] = set()
    for case in document["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert fired == names, names ^ fired
    assert silent == names, names ^ silent


@pytest.mark.parametrize(
    ("expr", "unknown"),
    [
        ('sum(rate(payhook_callbacks_total{result="unavailable"}[5m]))', set()),
        ("histogram_quantile(0.99, sum by (le) (rate(payhook_commit_seconds_bucket[5m])))", set()),
        ('absent(up{job="payhook-worker"} == 1)', set()),
        ('sum(payhook_callbacks_total{provider="payhook_fake"})', set()),
        ("rate(payhook_callback_total[5m])", {"payhook_callback_total"}),
        ("rate(payhook_commit_seconds[5m])", {"payhook_commit_seconds"}),
        ("payhook_queue_depth_bucket", {"payhook_queue_depth_bucket"}),
        ("payhook_callbacks_total_created", {"payhook_callbacks_total_created"}),
    ],
)
def test_the_metric_checker(expr: str, unknown: set[str]) -> None:
    assert unknown_metrics(expr) == unknown
