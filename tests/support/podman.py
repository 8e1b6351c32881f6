"""podman for the tests that build and start payhook's image (``make test-image``, ``make test-compose``): a
store and settings of its own under a cache folder, a Debian base made locally (no registry is reachable from
the development machines), and the image built from ``deploy/Dockerfile`` on it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from tests.support.processes import ROOT

# Outside the repository, so that a clean clone reuses it: the store (the base, the image, its build cache).
CACHE = Path(os.environ.get("PAYHOOK_IMAGE_CACHE") or Path.home() / ".cache" / "payhook-image")
SUITE = "bookworm"  # the Dockerfile's default base is bookworm's Python 3.11; so is Debian's own python3
BASE = f"localhost/payhook-base:{SUITE}"
IMAGE = "localhost/payhook:test"
# The build's HTTPS (pip from PyPI) may pass a proxy that re-signs certificates: the host's bundle is mounted
# for the build's RUN steps only, never copied into a layer.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

# runc: podman's default runtime (crun) cannot start containers in the development machines' sandbox. The
# ulimits: rootful podman asks for 1048576 open files by default, above the sandbox's hard limit (20000), and
# runc then fails to start anything. Host networking by default: the bridge rewrites the host's iptables,
# which these tests must leave alone (every command passes --network too).
CONTAINERS_CONF = """\
[containers]
netns = "host"
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}/storage"
runroot = "{root}/run"
"""

# What Debian's own slim images leave out (docs, man pages, locales, apt's package caches), so that neither
# the base nor a later `apt-get install` in the Dockerfile carries them.
SLIM = (
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    '--aptopt=Dir::Cache::pkgcache "";',
    '--aptopt=Dir::Cache::srcpkgcache "";',
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/*',
)


class Podman:
    """The podman command with the store and settings under ``cache``."""

    def __init__(self, cache: Path = CACHE) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "containers.conf").write_text(CONTAINERS_CONF)
        (cache / "storage.conf").write_text(STORAGE_CONF.format(root=cache))
        self.cache = cache
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(cache / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(cache / "storage.conf"),
        }

    def __call__(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        stdin: IO[bytes] | None = None,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *args],
            env={**self.env, **(env or {})},
            stdin=stdin,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: exit {result.returncode}\n{result.stderr[-4000:]}")
        return result

    def exists(self, image: str) -> bool:
        return self("image", "exists", image, check=False).returncode == 0

    def inspect(self, template: str, *names: str) -> str:
        return self("inspect", "--format", template, *names).stdout.strip()


def unusable() -> str | None:
    """Why this machine cannot build and run the image, or None."""
    if os.geteuid() != 0:
        return "needs root (rootful podman; mmdebstrap makes the base)"
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (scripts/podman-tools.sh installs it from Debian's packages)"
    return None


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses for the base's suite (apt-cache policy names it)."""
    policy = subprocess.run(["apt-cache", "policy"], capture_output=True, text=True, check=False).stdout
    found = re.search(rf"^\s*\d+\s+(\S+)\s+{SUITE}/main\s", policy, re.MULTILINE)
    return found.group(1) if found else "http://deb.debian.org/debian"


def make_base(podman: Podman) -> None:
    """Debian minbase with python3, python3-venv and ca-certificates, imported as ``BASE``."""
    # mmdebstrap's work folder on a tmpfs when there is one: dpkg's many small writes stay off the disk.
    tmp = {"TMPDIR": "/dev/shm"} if Path("/dev/shm").is_dir() else {}
    command = [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        "--include=python3,python3-venv,ca-certificates",
        # Merged /usr set up directly: the usrmerge package would bring the whole of perl.
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        "--dpkgopt=force-unsafe-io",
        *SLIM,
        SUITE,
        "-",
        debian_mirror(),
    ]
    log = podman.cache / "base.log"
    env = {**os.environ, **tmp}
    with log.open("wb") as err, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, env=env) as tar:
        assert tar.stdout is not None
        imported = podman("import", "-", BASE, stdin=tar.stdout, check=False, timeout=900)
    assert tar.returncode == 0, f"mmdebstrap failed:\n{log.read_text()[-3000:]}"
    assert imported.returncode == 0, imported.stderr[-3000:]


def build(podman: Podman, image: str = IMAGE, base: str = BASE) -> float:
    """``deploy/Dockerfile`` built as ``image`` on ``base``; the seconds it took."""
    started = time.monotonic()
    previous = podman("image", "inspect", "--format", "{{.Id}}", image, check=False).stdout.strip()
    mounts = ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"] if CA_BUNDLE.exists() else []
    podman(
        "build",
        # Docker's format keeps HEALTHCHECK (OCI's has no such field).
        "--format=docker",
        "--network=host",
        # The final stage's apt-get (tini) runs while the builder installs the dependencies.
        "--jobs=2",
        # podman 4.3 reads no <Dockerfile>.dockerignore by itself.
        f"--ignorefile={ROOT / 'deploy' / 'Dockerfile.dockerignore'}",
        f"--file={ROOT / 'deploy' / 'Dockerfile'}",
        f"--build-arg=BASE={base}",
        f"--tag={image}",
        *mounts,
        str(ROOT),
        timeout=900,
    )
    took = time.monotonic() - started
    # The image this build replaced, with the layers only it used. Not `podman image prune`: the builder
    # stage's layers are untagged too, and they are the cache of the next build.
    if previous and previous != podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip():
        podman("rmi", "--force", previous, check=False)  # also when test-compose tagged it payhook:latest
    return took


def run_args(name: str, env: Sequence[str], *, detach: bool = True) -> list[str]:
    """``podman run`` for one of payhook's processes: host networking (no bridge), the root filesystem
    read-only as in the Kubernetes manifests, no health check timer (podman wants systemd for it; the tests
    run the check by hand), the named variables taken from podman's own environment."""
    args = ["run", "--name", name, "--network=host", "--read-only", "--no-healthcheck"]
    args += ["--detach"] if detach else ["--rm"]
    for variable in env:
        args += ["--env", variable]
    return args
