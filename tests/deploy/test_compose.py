"""Offline checks of ``deploy/compose.yaml``: the Compose Specification's schema and the services the
deployment relies on. No container daemon needed; the validator is also fed a broken file, to show that it
bites."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.deploy.manifests import DEPLOY, IMAGE, SCHEMAS, procfile, schema_errors, shell_line, yaml


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def compose_errors(document: dict[str, Any]) -> list[str]:
    return schema_errors(document, json.loads((SCHEMAS / "compose-spec.json").read_text()))


def test_compose_matches_the_compose_specification() -> None:
    assert compose_errors(compose()) == []


def test_compose_validator_bites() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["worker"]["restrat"] = "always"
    broken["services"]["web"]["ports"] = "8000"
    errors = compose_errors(broken)
    assert any("restrat" in error for error in errors), errors
    assert any(error.startswith("services/web/ports") for error in errors), errors


def test_compose_redis_keeps_what_it_acknowledged() -> None:
    command = compose()["services"]["redis"]["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert command[0] == "redis-server"
    assert flags["--appendonly"] == "yes"
    assert flags["--maxmemory-policy"] == "noeviction"
    # The same durability as deploy/redis.conf, the production notes' file.
    for line in (DEPLOY / "redis.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            directive, _, value = line.partition(" ")
            assert flags[f"--{directive}"] == value.strip('"'), directive


def test_compose_services() -> None:
    services = compose()["services"]
    payhook = {name: s for name, s in services.items() if s.get("image") == IMAGE or "build" in s}
    assert set(payhook) == {"migrate", "web", "worker", "beat"}
    assert len({json.dumps([s["image"], s["build"]], sort_keys=True) for s in payhook.values()}) == 1
    assert not any("container_name" in s for s in payhook.values())

    lines = procfile()
    assert "command" not in payhook["web"], "web runs the image's CMD, the Procfile's web line"
    assert " ".join(payhook["migrate"]["command"]) == lines["release"]
    for name in ("worker", "beat"):
        assert shell_line(payhook[name]["command"]).replace("$$", "$") == lines[name]

    assert services["flower"]["profiles"] == ["flower"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert payhook["migrate"]["restart"] == "no"
    assert payhook["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert payhook["web"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert int(payhook["worker"]["stop_grace_period"].removesuffix("s")) >= 45
    for name in ("worker", "beat", "migrate"):
        assert payhook[name]["healthcheck"] == {"disable": True}, name
    environment = payhook["web"]["environment"]
    for variable in ("PIVOT_CALLBACK_KEY", "REVENUE_MONSTER_PUBLIC_KEY", "MIDTRANS_SERVER_KEY", "ADMIN_TOKEN"):
        assert environment[f"PAYHOOK_{variable}"] == f"${{PAYHOOK_{variable}:-}}"
