"""No key is given twice in one mapping of ``deploy/``'s YAML files, and the check is fed a broken document, to
show that it bites."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.manifests import DEPLOY, duplicate_keys


@pytest.mark.parametrize(
    "path",
    [DEPLOY / "compose.yaml", DEPLOY / "compose.podman.yaml", *sorted((DEPLOY / "k8s").glob("*.yaml"))],
    ids=lambda p: p.name,
)
def test_no_key_is_given_twice(path: Path) -> None:
    assert duplicate_keys(path.read_text()) == []


def test_duplicate_keys_are_found() -> None:
    assert duplicate_keys("a:\n  b: 1\n  b: 2\n") == ["line 2: b"]
