"""What the offline checks of ``deploy/`` share: its paths, the image's name and user, the Procfile's lines,
a JSON Schema validator and the duplicate-key check."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

# PyYAML and jsonschema ship no type information: reached through importlib they are plain ``Any`` to mypy.
yaml: Any = importlib.import_module("yaml")
jsonschema: Any = importlib.import_module("jsonschema")

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
    assert "--host ${PAYHOOK_HOST:-127.0.0.1}" in line, line
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
