"""The fixtures of the tests that build payhook's image and start containers (marked ``containers``): podman
with a store of its own, and the image, built once per session."""

from __future__ import annotations

import time

import pytest

from tests.support.podman import BASE, IMAGE, Podman, build, make_base, unusable


@pytest.fixture(scope="session")
def podman() -> Podman:
    why = unusable()
    if why is not None:
        pytest.skip(f"podman cannot run payhook's image here: {why}")
    return Podman()


@pytest.fixture(scope="session")
def image(podman: Podman) -> str:
    started = time.monotonic()
    if not podman.exists(BASE):
        make_base(podman)
        print(f"\nimage: base {BASE} made in {time.monotonic() - started:.0f} s")
    probe = podman("run", "--rm", "--network=host", BASE, "true", check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot start a container here: {probe.stderr.strip()[-800:]}")
    took = build(podman)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    print(f"\nimage: {IMAGE} built in {took:.0f} s, {size / 1e6:.0f} MB")
    return IMAGE
