"""The receiver's OpenAPI document: one callback path per provider with the headers its authentication reads,
the probes, the admin parts composed in; every reference resolves. Builds the document; no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ingest.openapi import document
from shared.providers import all_providers

PROVIDERS = list(all_providers().values())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_each_provider_has_its_callback_path_with_its_auth_headers() -> None:
    paths = document(PROVIDERS, admin=True)["paths"]
    for provider in PROVIDERS:
        post = paths[f"/callbacks/{provider.name}"]["post"]
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
        assert {header.name for header in provider.auth_headers} <= headers
        assert {"200", "401", "503"} <= set(post["responses"])


def test_only_the_providers_given_are_described() -> None:
    pivot = [p for p in PROVIDERS if p.name == "pivot"]
    callbacks = [path for path in document(pivot, admin=True)["paths"] if path.startswith("/callbacks/")]
    assert callbacks == ["/callbacks/pivot"]


def test_the_probes_and_the_admin_parts_are_composed_in() -> None:
    paths = document(PROVIDERS, admin=True)["paths"]
    assert {"/healthz", "/readyz", "/metrics", "/admin/dead-letters"} <= set(paths)
    assert all(op.get("responses") for item in paths.values() for op in item.values() if isinstance(op, dict))


def test_every_reference_resolves_inside_the_document() -> None:
    doc = document(PROVIDERS, admin=True)
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, ref
            node = node[part]
