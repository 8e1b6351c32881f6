"""The image for real (``make test-image``): ``deploy/Dockerfile`` built with podman on a Debian base made
locally, then its release, web, worker and beat containers run against the machine's PostgreSQL and Redis, on a
database and key prefix of their own. A Dockerfile that lints can still fail at its first COPY, run as root,
miss a library or ignore SIGTERM: these tests start it and stop it. They skip, naming why, where podman
cannot run (not root, no podman); plain ``pytest`` skips them (``--containers`` runs them)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import pytest
from redis import Redis
from sqlalchemy.engine import Engine, make_url

from shared.db.engine import make_engine
from shared.providers import all_providers
from shared.queue import QueuedCallback, QueueKeys
from shared.settings import Settings
from tests.conftest import BASE_DATABASE_URL, REDIS_URL, env_for
from tests.deploy.manifests import UID, procfile
from tests.support.fixtures import signed
from tests.support.net import free_port
from tests.support.pipeline import drop_database, payment, pivot_event, scalar
from tests.support.podman import Podman, run_args
from tests.support.processes import wait_for

# The first test's fixtures may make the base and build the image: minutes, beyond pytest's usual limit.
pytestmark = [pytest.mark.integration, pytest.mark.containers, pytest.mark.timeout(1200)]

DATABASE_URL = make_url(BASE_DATABASE_URL).set(database="payhook_image_test").render_as_string(hide_password=False)
# The stop grace periods of deploy/compose.yaml and the Kubernetes manifests.
WEB_GRACE, WORKER_GRACE = 15, 60
# Long enough that an entry still claimed by a stopped worker would visibly wait for it (the new worker has
# half of it for the rest of the burst, which took 12-52 s on this machine as its load varied), and that a
# worker whose pool children missed the SIGTERM would visibly run their drains on (the stop took 3-9 s).
CLAIM_TIMEOUT, DRAIN_BUDGET = 300, 60


@dataclass
class Deployment:
    """payhook's processes as containers of ``image``, named ``<tag>-<process>``."""

    podman: Podman
    image: str
    env: dict[str, str]
    tag: str = field(default_factory=lambda: f"payhook-image-{uuid.uuid4().hex[:8]}")
    names: list[str] = field(default_factory=list)

    def start(self, process: str, name: str, **env: str) -> str:
        """A detached container of ``process`` (its Procfile line; web: the image's own command)."""
        container = f"{self.tag}-{name}"
        command = [] if process == "web" else ["sh", "-c", f"exec {procfile()[process]}"]
        environment = {**self.env, **env}
        self.podman(*run_args(container, sorted(environment)), self.image, *command, env=environment)
        self.names.append(container)
        return container

    def once(self, *command: str) -> subprocess.CompletedProcess[str]:
        container = f"{self.tag}-once-{uuid.uuid4().hex[:6]}"
        return self.podman(*run_args(container, sorted(self.env), detach=False), self.image, *command, env=self.env)

    def exec(self, name: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", f"{self.tag}-{name}", *command, check=check)

    def stop(self, name: str, grace: int) -> tuple[int, float]:
        """``podman stop`` (SIGTERM, then SIGKILL after ``grace``): the exit code and the seconds it took."""
        started = time.monotonic()
        self.podman("stop", "--time", str(grace), f"{self.tag}-{name}", timeout=grace + 30)
        took = time.monotonic() - started
        return int(self.podman.inspect("{{.State.ExitCode}}", f"{self.tag}-{name}")), took

    def logs(self) -> str:
        logs = [self.podman("logs", "--tail", "40", name, check=False) for name in self.names]
        return "\n".join(f"--- {name}\n{log.stdout}{log.stderr}" for name, log in zip(self.names, logs, strict=True))

    def remove(self) -> None:
        if self.names:
            self.podman("rm", "--force", "--time", "0", *self.names, check=False)


@pytest.fixture(scope="module")
def deployment(podman: Podman, image: str) -> Iterator[Deployment]:
    prefix = f"payhook-image-{uuid.uuid4().hex[:8]}"
    env = env_for(
        prefix,
        PAYHOOK_DATABASE_URL=DATABASE_URL,
        PAYHOOK_CLAIM_TIMEOUT_SECONDS=str(CLAIM_TIMEOUT),
        PAYHOOK_DRAIN_BUDGET_SECONDS=str(DRAIN_BUDGET),
        PORT=str(free_port()),
        PAYHOOK_WORKER_METRICS_PORT=str(free_port()),
    )
    deployment = Deployment(podman, image, env)
    try:
        deployment.once("sh", "-c", f"exec {procfile()['release']}")  # fails the fixture unless it exits 0
        deployment.start("web", "web")
        deployment.start("worker", "worker")
        deployment.start("beat", "beat")
        wait_for(lambda: _status(deployment, "/healthz") == 200, 30, f"web's /healthz\n{deployment.logs()}")
        yield deployment
    finally:
        deployment.remove()
        drop_database(DATABASE_URL)
        _forget(prefix)


@pytest.fixture(scope="module")
def engine(deployment: Deployment) -> Iterator[Engine]:
    engine = make_engine(Settings.from_env(deployment.env), pool_size=1)
    yield engine
    engine.dispose()


def test_the_image_holds_no_compiler_no_tests_and_no_git(podman: Podman, image: str) -> None:
    probe = (
        "command -v gcc cc c++ g++ make as ld; "
        "find / -xdev \\( -name .git -o -name .cache \\) -print; "
        "ls -d /src /app/tests 2>/dev/null; "
        'python -c \'import importlib.util as u; print(*(m for m in ("tests", "pytest") if u.find_spec(m)))\''
    )
    found = podman("run", "--rm", "--network=host", "--no-healthcheck", image, "sh", "-c", probe, check=False)
    assert found.stdout.strip() == "", f"the image holds what it should not:\n{found.stdout}"


def test_a_callback_of_each_provider_is_applied(deployment: Deployment, engine: Engine) -> None:
    url = f"http://127.0.0.1:{deployment.env['PORT']}"
    refs: dict[str, str] = {}
    for name, provider in all_providers().items():
        body, headers = signed(name, provider.samples()[provider.example])
        answer = httpx.post(f"{url}/callbacks/{name}", content=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        event = provider.normalize(provider.samples()[provider.example])
        assert event is not None and event.order_ref is not None
        refs[name] = event.order_ref
    for name, ref in refs.items():
        wait_for(
            lambda n=name, r=ref: (payment(engine, n, r) or {}).get("status") == "paid",  # type: ignore[misc]
            60,
            f"{name} {ref} paid\n{deployment.logs()}",
        )
    # The operators' CLI from inside the image reads the same.
    name, ref = next(iter(refs.items()))
    shown = json.loads(deployment.exec("worker", "payhook", "payments", "show", name, ref, "--json").stdout)
    assert shown["status"] == "paid"


def test_every_process_runs_as_10001_under_tini(deployment: Deployment) -> None:
    for name in ("web", "worker", "beat"):
        assert deployment.exec(name, "id", "-u").stdout.strip() == str(UID), name
        pid1 = deployment.exec(name, "cat", "/proc/1/cmdline").stdout.split("\0")
        assert pid1[0].rsplit("/", 1)[-1] == "tini", f"{name}: PID 1 is {pid1}"


def test_the_health_check_passes_on_web_and_fails_without_it(deployment: Deployment) -> None:
    inspected = deployment.podman("image", "inspect", "--format", "{{json .HealthCheck.Test}}", deployment.image)
    check = json.loads(inspected.stdout)
    assert check[0] == "CMD", check
    assert deployment.exec("web", *check[1:], check=False).returncode == 0
    closed = deployment.podman("exec", "--env", f"PORT={free_port()}", f"{deployment.tag}-web", *check[1:], check=False)
    assert closed.returncode != 0, "the health check passes with nothing listening"


def test_podman_stop_lets_the_worker_finish_its_batch(deployment: Deployment, engine: Engine, podman: Podman) -> None:
    total = 20000
    before = _events(engine)
    keys = QueueKeys(deployment.env["PAYHOOK_QUEUE_PREFIX"])
    redis = Redis.from_url(REDIS_URL)
    with redis.pipeline(transaction=False) as pipe:
        for i in range(total):
            body = pivot_event("PAYMENT.PAID", f"burst-{i}", f"burst-order-{i}", "PAID")
            pipe.xadd(keys.stream, cast(Any, QueuedCallback("pivot", body, {}, time.time()).encode()))
        pipe.execute()
    wait_for(lambda: _events(engine) > before, 60, f"the first burst commit\n{deployment.logs()}")
    code, took = deployment.stop("worker", WORKER_GRACE)
    at_stop = _events(engine) - before
    assert code == 0, f"the worker exited {code} after {took:.1f} s\n{deployment.logs()}"
    assert took < DRAIN_BUDGET / 2, f"the stop took {took:.1f} s: the pool's drains ran on to their budget"
    assert 0 < at_stop < total, "the stop must land mid-way"
    stopped = time.monotonic()
    deployment.start("worker", "worker-2", PAYHOOK_WORKER_METRICS_PORT=str(free_port()))
    wait_for(lambda: _events(engine) - before == total, CLAIM_TIMEOUT / 2, f"the rest\n{deployment.logs()}")
    print(f"\nimage: worker stopped in {took:.1f} s with {at_stop} of {total} committed; the rest done "
          f"{time.monotonic() - stopped:.1f} s later by a new worker")  # fmt: skip
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0
    pending = cast(Any, redis.xpending_range(keys.stream, keys.group, "-", "+", 1000))
    assert all(int(p["times_delivered"]) == 1 for p in pending), "an entry was delivered twice"
    redis.close()


def test_podman_stop_fails_readiness_first_then_web_ends_its_requests(deployment: Deployment) -> None:
    name = f"{deployment.tag}-web"
    stopping = subprocess.Popen(
        ["podman", "stop", "--time", str(WEB_GRACE), name],
        env=deployment.podman.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: list[int | None] = []
    while stopping.poll() is None:
        seen.append(_status(deployment, "/readyz"))
        time.sleep(0.05)
    answered = [s for s in seen if s is not None]
    assert 503 in answered, f"/readyz never answered 503 while web stopped: {sorted(set(answered))}"
    assert 200 not in answered[answered.index(503) :], "/readyz went back to 200"
    # uvicorn finishes its requests, then raises the SIGTERM it caught again: tini reports 128 + 15. A stop
    # that had to SIGKILL would be 137, and would not log the end of the server process.
    assert int(deployment.podman.inspect("{{.State.ExitCode}}", name)) == 143, deployment.logs()
    assert "Finished server process" in deployment.podman("logs", name).stderr


def _status(deployment: Deployment, path: str) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{deployment.env['PORT']}{path}", timeout=1).status_code
    except httpx.HTTPError:
        return None


def _events(engine: Engine) -> int:
    return int(scalar(engine, "SELECT count(*) FROM payment_events"))


def _forget(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    for key in redis.scan_iter(f"{prefix}:*"):
        redis.delete(key)
    redis.close()
