"""``deploy/requirements.lock`` against ``pyproject.toml``, offline: the lock that the image and the production
install take (``deploy/install.sh``, with ``--require-hashes``) pins every run-time dependency at a version
inside its declared range, each with its files' hashes, and was compiled from exactly those dependencies. When
these fail, ``make lock`` rewrites the lock."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.manifests import DEPLOY, ROOT

LOCK = DEPLOY / "requirements.lock"
# What uv writes after a requirement that pyproject.toml names itself.
DIRECT = "payhook (pyproject.toml)"


@dataclass
class Locked:
    requirement: Requirement
    hashes: list[str]
    via: set[str] = field(default_factory=set)

    @property
    def version(self) -> Version:
        (pin,) = self.requirement.specifier
        assert pin.operator == "==", f"{self.requirement}: not an exact pin"
        return Version(pin.version)


def parse_lock(text: str) -> dict[str, Locked]:
    """The lock's requirements by canonical name, with their hashes and what they were locked for."""
    entries: dict[str, Locked] = {}
    current: Locked | None = None
    for line in re.sub(r"\\\n", " ", text).splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not line[0].isspace() and not stripped.startswith("#"):
            spec, *hashes = re.split(r"\s+--hash=", stripped)
            current = Locked(Requirement(spec), hashes)
            entries[canonicalize_name(current.requirement.name)] = current
        elif current is not None and stripped.startswith("#"):
            via = stripped.lstrip("#").strip().removeprefix("via").strip()
            if via:
                current.via.add(via)
    return entries


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(dependency) for dependency in project["dependencies"]]


def test_every_run_time_dependency_is_locked_inside_its_range() -> None:
    locked = parse_lock(LOCK.read_text())
    for requirement in declared():
        entry = locked.get(canonicalize_name(requirement.name))
        assert entry is not None, f"{requirement.name} is not in {LOCK.name}: run `make lock`"
        assert requirement.specifier.contains(entry.version, prereleases=True), (
            f"{LOCK.name} pins {requirement.name}=={entry.version}, outside pyproject.toml's "
            f"'{requirement.specifier}': run `make lock`"
        )


def test_the_lock_was_compiled_from_exactly_these_dependencies() -> None:
    direct = {name for name, entry in parse_lock(LOCK.read_text()).items() if DIRECT in entry.via}
    assert direct == {canonicalize_name(r.name) for r in declared()}, "run `make lock`"


def test_every_locked_package_is_pinned_with_its_hashes() -> None:
    locked = parse_lock(LOCK.read_text())
    assert len(locked) >= len(declared())
    for name, entry in locked.items():
        assert entry.version, name
        assert entry.hashes, f"{name} has no hash: pip's --require-hashes refuses the whole lock"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in entry.hashes), name


def test_the_parser_sees_a_stale_lock() -> None:
    stale = parse_lock(
        "starlette==0.45.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via payhook (pyproject.toml)\n"
        "anyio==4.0.0\n    # via\n    #   starlette\n"
    )
    assert not Requirement("starlette>=0.46").specifier.contains(stale["starlette"].version)
    assert stale["starlette"].via == {DIRECT}
    assert stale["anyio"].hashes == []
    assert stale["anyio"].via == {"starlette"}
