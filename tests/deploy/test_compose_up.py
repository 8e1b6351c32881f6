"""``deploy/compose.yaml`` for real (``make test-compose``): podman-compose brings it up with
``deploy/compose.podman.yaml`` (podman 4.3's limits, a private network namespace), in stages, with the image of
``make test-image`` and stand-ins for the postgres and redis images (no registry is reachable here). A callback
reaches ``paid``, the worker scales to two, ``down -v`` leaves nothing behind. Minutes: not part of
``make test`` nor of CI's run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.providers import all_providers
from tests.deploy.manifests import DEPLOY
from tests.support.fixtures import credentials, signed
from tests.support.podman import BASE, Podman
from tests.support.processes import wait_for

# The first test's fixtures may make the base and build the image: minutes, beyond pytest's usual limit.
pytestmark = [pytest.mark.integration, pytest.mark.containers, pytest.mark.timeout(1200)]

STANDINS = Path(__file__).resolve().parent / "standins"
STANDIN_IMAGES = {
    "POSTGRES_IMAGE": ("localhost/payhook-standin-postgres:15", "postgres.Dockerfile"),
    "REDIS_IMAGE": ("localhost/payhook-standin-redis:7", "redis.Dockerfile"),
}
# Sent from inside web's container: nothing outside the project's network namespace reaches it.
POST = """\
import json, sys, urllib.request
sent = json.load(sys.stdin)
request = urllib.request.Request(sent["url"], data=sent["body"].encode(), headers=sent["headers"], method="POST")
print(urllib.request.urlopen(request, timeout=10).status)
"""


@dataclass
class Compose:
    podman: Podman
    project: str
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        program = shutil.which("podman-compose", path=str(Path(sys.executable).parent)) or "podman-compose"
        files = ["-f", str(DEPLOY / "compose.yaml"), "-f", str(DEPLOY / "compose.podman.yaml")]
        result = subprocess.run(
            [program, "--project-name", self.project, *files, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, (
            f"podman-compose {' '.join(args)}: exit {result.returncode}\n{result.stderr[-3000:]}"
        )
        return result

    def up(self, *services: str, detach: bool = True) -> None:
        """One stage of the start: the services alone, their dependencies already up (see the override)."""
        self("up", *(["--detach"] if detach else []), "--no-build", "--no-deps", *services)

    def container(self, service: str, replica: int = 1) -> str:
        return f"{self.project}_{service}_{replica}"

    def exec(self, service: str, *command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        interactive = ["--interactive"] if stdin is not None else []
        return self.podman("exec", *interactive, self.container(service), *command, input_text=stdin, check=False)

    def running(self) -> list[str]:
        listed = self.podman(
            "ps", "--filter", f"label=io.podman.compose.project={self.project}", "--format", "{{.Names}}"
        )
        return sorted(listed.stdout.split())


@pytest.fixture(scope="module")
def compose(podman: Podman, image: str) -> Iterator[Compose]:
    if shutil.which("podman-compose", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("podman-compose is missing: make test-compose installs it")
    podman("tag", image, "localhost/payhook:latest")  # the image compose.yaml names
    for name, dockerfile in STANDIN_IMAGES.values():  # from the build cache after the first time
        podman("build", "--network=host", f"--file={STANDINS / dockerfile}", f"--build-arg=BASE={BASE}",
               f"--tag={name}", str(STANDINS), timeout=600)  # fmt: skip
    env = {**podman.env, **credentials(), **{variable: name for variable, (name, _) in STANDIN_IMAGES.items()}}
    compose = Compose(podman, f"payhook-compose-{uuid.uuid4().hex[:6]}", env)
    try:
        yield compose
    finally:
        _down(compose)


def test_compose_up_applies_a_callback_scales_the_worker_and_comes_down(compose: Compose) -> None:
    started = time.monotonic()
    compose.up("postgres")
    ready = ("pg_isready", "--username=payhook", "--dbname=payhook")
    wait_for(lambda: compose.exec("postgres", *ready).returncode == 0, 60, "postgres")
    compose.up("redis")
    wait_for(lambda: compose.exec("redis", "redis-cli", "ping").stdout.strip() == "PONG", 30, "redis")
    compose.up("migrate", detach=False)
    assert compose.podman.inspect("{{.State.ExitCode}}", compose.container("migrate")) == "0"
    compose.up("web", "worker", "beat")
    check = ("python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')")
    wait_for(lambda: compose.exec("web", *check).returncode == 0, 60, "web's /healthz")
    up = time.monotonic() - started

    _send_and_see_paid(compose, "pivot")
    compose("up", "--detach", "--no-build", "--no-deps", "--scale", "worker=2", "worker")
    workers = [compose.container("worker", 1), compose.container("worker", 2)]
    wait_for(lambda: set(workers) <= set(compose.running()), 30, "two workers")
    _send_and_see_paid(compose, "midtrans")
    print(f"\ncompose: up in {up:.0f} s (staged), two callbacks paid, worker scaled to 2; running {compose.running()}")

    _down(compose)
    assert compose.running() == []
    volumes = compose.podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [v for v in volumes if v.startswith(compose.project)], volumes
    print(f"compose: the whole run took {time.monotonic() - started:.0f} s")


def _send_and_see_paid(compose: Compose, name: str) -> None:
    provider = all_providers()[name]
    body, headers = signed(name, provider.samples()[provider.example])
    sent = {"url": f"http://127.0.0.1:8000/callbacks/{name}", "body": body.decode(), "headers": headers}
    posted = compose.exec("web", "python", "-c", POST, stdin=json.dumps(sent))
    assert posted.stdout.strip() == "200", posted.stderr[-2000:]
    event = provider.normalize(provider.samples()[provider.example])
    assert event is not None and event.order_ref is not None
    show = ("payhook", "payments", "show", name, event.order_ref, "--json")

    def paid() -> bool:
        shown = compose.exec("worker", *show)
        return shown.returncode == 0 and json.loads(shown.stdout)["status"] == "paid"

    wait_for(paid, 60, f"{name} {event.order_ref} paid")


def _down(compose: Compose) -> None:
    """``down`` knows only the replicas the files declare: the second worker is an orphan to it, and it holds
    postgres's network namespace, so the first pass may leave postgres (and its volume) behind."""
    compose("down", "--remove-orphans", "--timeout", "20")
    compose("down", "--volumes", "--timeout", "20")
