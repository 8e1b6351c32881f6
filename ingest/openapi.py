"""The OpenAPI document of the web process's HTTP API, served at /openapi.json: the callback paths and the probes
here, the admin paths from ``shared.ops.api.openapi``."""

from __future__ import annotations

from typing import Any

from shared.ops.api.openapi import admin_paths
from shared.ops.api.openapi_accounts import account_paths
from shared.ops.api.openapi_reconcile import reconcile_paths
from shared.providers import Provider

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    described = {
        400: "Malformed request",
        401: "Authentication failed",
        403: "Source not allowed",
        408: "Body not received in time",
        413: "Body over the size limit",
        503: "Cannot queue now, or provider not configured; retry later",
    }
    return {
        str(code): {"description": described[code], "content": {"application/json": {"schema": _ERROR}}}
        for code in codes
    }


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def _callback_paths(provider: Provider) -> dict[str, Any]:
    headers = [
        {"name": h.name, "in": "header", "required": False, "description": h.description, "schema": {"type": "string"}}
        for h in provider.auth_headers
    ]
    return {
        "post": {
            "summary": f"Receive a callback from {provider.title}; 200 once it is durably queued",
            "description": provider.description,
            "parameters": headers,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                **_ok({"$ref": "#/components/schemas/Queued"}),
                **_errors(400, 401, 403, 408, 413, 503),
            },
        },
        "get": {
            "summary": "Answers 200: a provider may check a callback URL when it is registered",
            "responses": _ok({"$ref": "#/components/schemas/Status"}),
        },
    }


def _probes() -> dict[str, Any]:
    return {
        "/healthz": {"get": {"summary": "Liveness", "responses": _ok({"$ref": "#/components/schemas/Status"})}},
        "/readyz": {
            "get": {
                "summary": "Readiness: the queue is reachable",
                "responses": {**_ok({"$ref": "#/components/schemas/Status"}), **_errors(503)},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Prometheus text", "content": {"text/plain": {}}}},
            }
        },
    }


_COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        },
        "Queued": {
            "type": "object",
            "required": ["status", "id"],
            "properties": {"status": {"type": "string", "enum": ["queued", "spooled"]}, "id": {"type": "string"}},
        },
        "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
    },
}


def _admin(providers: list[str]) -> dict[str, Any]:
    """Every admin path; an operation that takes a body may answer 413 (the admin API's 64 KB cap)."""
    paths = {**admin_paths(providers), **reconcile_paths(providers), **account_paths(providers)}
    for path in paths.values():
        for operation in path.values():
            if "requestBody" in operation:
                operation["responses"] = {**operation["responses"], **_errors(413)}
    return paths


def document(providers: list[Provider], *, admin: bool) -> dict[str, Any]:
    """The document; the admin paths only when the admin API is on (``admin``): a server without an admin
    token does not advertise paths that answer nothing but 404."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "payhook", "version": "1", "description": "Payment-callback ingestion."},
        "paths": {
            **{f"/callbacks/{p.name}": _callback_paths(p) for p in providers},
            **_probes(),
            **(_admin([p.name for p in providers]) if admin else {}),
        },
        "components": _COMPONENTS,
    }
