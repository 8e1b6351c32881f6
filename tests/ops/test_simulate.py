"""``payhook simulate``: the providers' stand-in as a command of its own, on the port asked for: it answers a
status query for a payment set through its control API, sends that payment's callback signed as the provider
signs it to a local receiver, and refuses a taken port in one line."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.canonical import Status
from shared.ops.cli.simulate import CALLBACKS_URL
from shared.providers import all_providers, demo_environment
from tests.shared.providers.standin.conftest import Receiver, midtrans_auth
from tests.support.fixtures import credentials
from tests.support.net import free_port
from tests.support.processes import wait_for, with_this_test_process
from tests.support.standin import Served

pytestmark = pytest.mark.integration


def _command(port: int, folder: Path) -> list[str]:
    return [sys.executable, "-m", "shared.ops.cli", "simulate", "--port", str(port), "--data-dir", str(folder)]


def _environment(chosen: Mapping[str, str] | None = None) -> dict[str, str]:
    """No stack's settings; the test credentials (or those ``chosen``), so that the receiver checks the
    callbacks with them."""
    bare = {k: v for k, v in os.environ.items() if not k.startswith("PAYHOOK_")}
    return {**bare, **(credentials() if chosen is None else chosen), "PYTHONUNBUFFERED": "1"}


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_sim/clock", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Simulated:
    url: str
    # What it printed before serving.
    banner: list[str]


@contextlib.contextmanager
def _simulating(folder: Path, chosen: Mapping[str, str] | None = None) -> Iterator[Simulated]:
    port = free_port()
    process = subprocess.Popen(
        _command(port, folder),
        cwd=folder,
        env=_environment(chosen),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=with_this_test_process(),  # noqa: PLW1509 - tests start processes from the main thread
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url) or process.poll() is not None, 60, "payhook simulate to answer")
        assert process.poll() is None, process.communicate()[0].decode()
        assert process.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("   PUT /_sim/faults"):  # the banner's last line
            banner.append(process.stdout.readline().decode().rstrip("\n"))
        yield Simulated(url, banner)
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[str]:
    with _simulating(tmp_path) as simulated:
        yield simulated.url


def test_simulate_answers_a_status_query_and_sends_a_signed_callback(simulate: str) -> None:
    payment = {"order_id": "ORD-1", "gross_amount": "150000.00", "transaction_status": "settlement"}
    assert httpx.put(f"{simulate}/_sim/midtrans/payments", json=payment).status_code == 201

    status = httpx.get(f"{simulate}/midtrans/v2/ORD-1/status", headers=midtrans_auth())
    assert status.status_code == 200, status.text
    assert (status.json()["status_code"], status.json()["transaction_status"]) == ("200", "settlement")

    receiver = Receiver()
    with Served(receiver.app()) as running:
        target = {"url": f"{running.url}/callbacks/midtrans", "copies": 2}
        sent = httpx.post(f"{simulate}/_sim/midtrans/payments/ORD-1/callback", json=target, timeout=30)
    assert sent.status_code == 200, sent.text
    assert [copy["outcome"] for copy in sent.json()["copies"]] == ["delivered", "delivered"]
    assert len(receiver.received) == 2
    midtrans = all_providers()["midtrans"]
    authenticator = midtrans.configure(credentials())
    assert authenticator is not None
    for _, headers, body in receiver.received:
        assert authenticator.refusal(headers, body) is None
        event = midtrans.normalize(body)
        assert event is not None and event.order_ref == "ORD-1"


def test_the_banners_commands_work_when_pasted_for_every_provider(tmp_path: Path) -> None:
    # payhook dev's throwaway credentials, kept in the stand-in's data folder: it signs with them.
    demo = demo_environment(tmp_path / "keys")
    receiver = Receiver()
    with _simulating(tmp_path, demo) as simulated, Served(receiver.app()) as running:
        commands = [line.strip() for line in simulated.banner if line.strip().startswith("curl ")]
        assert len(commands) == 2 * len(all_providers())
        for command in commands:
            # Pasted into a shell, with this test's receiver where payhook dev's would be.
            assert CALLBACKS_URL in command or "/callback" not in command, command
            pasted = command.replace(CALLBACKS_URL, f"{running.url}/callbacks")
            done = subprocess.run(["bash", "-c", pasted], capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, (command, done.stderr)
            answer = json.loads(done.stdout)
            assert "error" not in answer, (command, answer)
            if "/callback" in command:
                assert [copy["outcome"] for copy in answer["copies"]] == ["delivered", "delivered"], command
    by_provider: dict[str, list[tuple[dict[str, str], bytes]]] = {}
    for path, headers, body in receiver.received:
        by_provider.setdefault(path.rsplit("/", 1)[1], []).append((headers, body))
    assert sorted(by_provider) == sorted(all_providers())
    for name, provider in all_providers().items():
        authenticator = provider.configure(demo)
        assert authenticator is not None
        example = provider.normalize(provider.samples()[provider.example])
        assert example is not None and example.status == Status.PAID
        for headers, body in by_provider[name]:
            assert authenticator.refusal(headers, body) is None, name
            event = provider.normalize(body)
            assert event is not None and (event.order_ref, event.status) == (example.order_ref, Status.PAID), name


def test_simulate_refuses_a_taken_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _command(port, tmp_path), env=_environment(), capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        f"payhook: port {port}, for the providers' stand-in, is taken: stop what uses it or choose another with --port"
    ]
