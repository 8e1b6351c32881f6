"""Offline checks of the kustomize base in ``deploy/k8s``, as ``kubectl kustomize`` renders it: Kubernetes' and
KEDA's schemas, and the shape the deployment relies on. No cluster needed; each validator is also fed a broken
manifest, to show that it bites."""

from __future__ import annotations

import copy
import importlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.manifests import (
    DEPLOY,
    IMAGE,
    KUBERNETES_VERSION,
    SCHEMAS,
    UID,
    procfile,
    schema_errors,
    shell_line,
    yaml,
)

# kubernetes-validate ships no type information: reached through importlib it is plain ``Any`` to mypy.
kubernetes_validate: Any = importlib.import_module("kubernetes_validate")


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
        # args, not command: the image's ENTRYPOINT (tini) stays PID 1, as for web.
        assert "command" not in container
        assert shell_line(container["args"]) == lines[name]

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
    assert "command" not in container
    assert " ".join(container["args"]) == procfile()["release"] == "payhook migrate"
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
