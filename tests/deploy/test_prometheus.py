"""A real Prometheus (Debian's) scrapes a running stack's web and worker: what it reports of the backlog and
of the outcomes is what was sent."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import signed
from tests.support.net import free_port
from tests.support.pipeline import pivot_event
from tests.support.processes import ROOT, Stack, wait_for, with_this_test_process

pytestmark = pytest.mark.integration


class Prometheus:
    def __init__(self, folder: Path, web_port: int, worker_port: int) -> None:
        binary = shutil.which("prometheus")
        assert binary, (
            "prometheus is missing: the test stage installs Debian's prometheus package (scripts/test-tools.sh)"
        )
        shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", folder / "alerts.yml")
        (folder / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "rule_files: [alerts.yml]\n"
            "scrape_configs:\n"
            f"  - {{job_name: payhook-web, static_configs: [{{targets: ['127.0.0.1:{web_port}']}}]}}\n"
            f"  - {{job_name: payhook-worker, static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]}}\n"
        )
        self.port = free_port()
        command = [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        log = (folder / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=with_this_test_process(),  # noqa: PLW1509 - tests start processes from the main thread
        )

    def query(self, expression: str) -> float | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": expression}, timeout=2)
        except httpx.HTTPError:
            return None
        result: list[Any] = answer.json().get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[tuple[Stack, Prometheus]]:
    worker_port = free_port()
    running = Stack(env_for(settings.queue_prefix, PAYHOOK_WORKER_METRICS_PORT=str(worker_port)), free_port(), tmp_path)
    running.web()
    prometheus = Prometheus(tmp_path, running.port, worker_port)
    yield running, prometheus
    prometheus.stop()
    running.stop()


def test_prometheus_sees_the_backlog_then_the_outcomes(stack: tuple[Stack, Prometheus]) -> None:
    running, prometheus = stack
    sent = 40
    with httpx.Client(base_url=running.url) as http:
        for i in range(sent):
            body, headers = signed("pivot", pivot_event("PAYMENT.PAID", f"s{i}", f"o{i}", "PAID"))
            assert http.post("/callbacks/pivot", content=body, headers=headers).status_code == 200
        body, headers = signed("pivot", b"not json")
        assert http.post("/callbacks/pivot", content=body, headers=headers).status_code == 200
    # No worker yet: the backlog is everything sent.
    wait_for(lambda: prometheus.query("max(payhook_queue_depth)") == sent + 1, 30, "the backlog in Prometheus")
    assert prometheus.query('sum(payhook_callbacks_total{result="queued"})') == sent + 1
    assert (prometheus.query("max(payhook_queue_oldest_seconds)") or 0) > 0
    running.worker(concurrency=2)
    wait_for(lambda: prometheus.query("sum(payhook_events_total)") == sent, 60, "the outcomes in Prometheus")
    assert prometheus.query('sum(payhook_events_total{outcome="applied",provider="pivot"})') == sent
    assert prometheus.query('sum(payhook_dead_letters_total{reason="invalid_json"})') == 1
    wait_for(lambda: prometheus.query("max(payhook_queue_depth)") == 0, 30, "an empty backlog in Prometheus")
    assert prometheus.query('up{job="payhook-worker"}') == 1
    assert prometheus.query("sum(payhook_end_to_end_seconds_count)") == sent
