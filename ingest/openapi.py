"""The OpenAPI document of the web process's HTTP API (callbacks, health, admin), served at /openapi.json."""

from __future__ import annotations

from typing import Any

from ingest.openapi_ops import letter_filters, operator_paths
from shared.canonical import EVENT_TYPES
from shared.providers import Provider

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    described = {
        400: "Malformed request",
        401: "Authentication failed",
        403: "Source not allowed",
        404: "Not found",
        408: "Body not received in time",
        409: "The delivery is being sent right now",
        413: "Body over the size limit",
        422: "Refused: the message says why (a host not allowed, an unknown event type or provider)",
        503: "Cannot queue now, or provider not configured; retry later",
    }
    return {
        str(code): {"description": described[code], "content": {"application/json": {"schema": _ERROR}}}
        for code in codes
    }


def _accepted() -> dict[str, Any]:
    return {
        "202": {
            "description": "A job started (or the one already running for this filter)",
            "content": {"application/json": {}},
        }
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


def _operations() -> dict[str, Any]:
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


def _admin(names: list[str]) -> dict[str, Any]:
    provider = {"name": "provider", "in": "path", "required": True, "schema": {"type": "string", "enum": names}}
    letter_id = {"name": "letter_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    filters = letter_filters()
    admin: dict[str, Any] = {"security": [{"bearer": []}]}
    return {
        "/admin/payments/{provider}/{order_ref}": {
            "get": {
                **admin,
                "summary": "A payment with its events in arrival order",
                "parameters": [
                    provider,
                    {"name": "order_ref", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {**_ok({"type": "object"}), **_errors(401, 404)},
            }
        },
        "/admin/dead-letters": {
            "get": {
                **admin,
                "summary": "Dead letters waiting, oldest first, paginated",
                "parameters": [
                    *filters,
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {**_ok({"type": "object"}), **_errors(400, 401, 404)},
            }
        },
        "/admin/dead-letters/replay": {
            "post": {
                **admin,
                "summary": "Replay every dead letter matching the filters (dry_run reports what would be)",
                "parameters": [
                    *filters,
                    {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "background", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {**_ok({"type": "object"}), **_accepted(), **_errors(400, 401, 404)},
            }
        },
        "/admin/dead-letters/{letter_id}": {
            "get": {
                **admin,
                "summary": "One dead letter with its raw body, headers, reason and traceback",
                "parameters": [letter_id],
                "responses": {**_ok({"type": "object"}), **_errors(400, 401, 404)},
            },
            "delete": {
                **admin,
                "summary": "Delete a dead letter",
                "parameters": [letter_id],
                "responses": {"204": {"description": "Deleted"}, **_errors(400, 401, 404)},
            },
        },
        "/admin/dead-letters/{letter_id}/replay": {
            "post": {
                **admin,
                "summary": "Send a dead letter's original callback through the pipeline again",
                "parameters": [letter_id],
                "responses": {**_ok({"type": "object"}), **_errors(400, 401, 404)},
            }
        },
    }


def _outbox_admin(names: list[str]) -> dict[str, Any]:
    admin: dict[str, Any] = {"security": [{"bearer": []}]}
    endpoint_id = {"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    delivery_id = {"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    statuses = {"type": "string", "enum": ["pending", "sending", "delivered", "failed"]}
    filters = [
        {"name": "endpoint", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "status", "in": "query", "schema": statuses},
    ]
    fields = {
        "url": {"type": "string", "format": "uri"},
        "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "provider": {"type": "string", "enum": names},
        "enabled": {"type": "boolean"},
    }

    def body(required: list[str]) -> dict[str, Any]:
        schema = {"type": "object", "properties": fields, "required": required, "additionalProperties": False}
        return {"required": bool(required), "content": {"application/json": {"schema": schema}}}

    created = {"201": {"description": "Created, with its secret", "content": {"application/json": {}}}}
    return {
        "/admin/endpoints": {
            "get": {
                **admin,
                "summary": "Endpoints and handlers",
                "responses": {**_ok({"type": "object"}), **_errors(401)},
            },
            "post": {
                **admin,
                "summary": "Add an endpoint; the answer holds its signing secret",
                "requestBody": body(["url"]),
                "responses": {**created, **_errors(400, 401, 422)},
            },
        },
        "/admin/endpoints/{endpoint_id}": {
            method: {
                **admin,
                "summary": summary,
                "parameters": [endpoint_id],
                **extra,
                "responses": {**answer, **_errors(400, 401, 404, 422)},
            }
            for method, summary, extra, answer in (
                ("get", "One endpoint", {}, _ok({"type": "object"})),
                ("patch", "Change url, events, provider, enabled", {"requestBody": body([])}, _ok({"type": "object"})),
                ("delete", "Remove an endpoint with its deliveries", {}, {"204": {"description": "Removed"}}),
            )
        },
        "/admin/endpoints/{endpoint_id}/rotate-secret": {
            "post": {
                **admin,
                "summary": "A new secret; the previous one signs too for keep_previous_seconds (default a day)",
                "parameters": [endpoint_id],
                "responses": {**_ok({"type": "object"}), **_errors(400, 401, 404, 422)},
            }
        },
        "/admin/deliveries": {
            "get": {
                **admin,
                "summary": "Deliveries, newest first; page with before=<next_before>",
                "parameters": [
                    *filters,
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {**_ok({"type": "object"}), **_errors(400, 401)},
            }
        },
        "/admin/deliveries/retry": {
            "post": {
                **admin,
                "summary": "Send every delivery matching endpoint and status again, now",
                "parameters": filters,
                "responses": {**_ok({"type": "object"}), **_errors(400, 401)},
            }
        },
        "/admin/deliveries/{delivery_id}": {
            "get": {
                **admin,
                "summary": "One delivery with its event and every attempt (status, duration, first KB of the answer)",
                "parameters": [delivery_id],
                "responses": {**_ok({"type": "object"}), **_errors(400, 401, 404)},
            }
        },
        "/admin/deliveries/{delivery_id}/retry": {
            "post": {
                **admin,
                "summary": "Send one delivery again, now, with a fresh schedule",
                "parameters": [delivery_id],
                "responses": {**_ok({"type": "object"}), **_errors(400, 401, 404, 409)},
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


def document(providers: list[Provider]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "payhook", "version": "1", "description": "Payment-callback ingestion."},
        "paths": {
            **{f"/callbacks/{p.name}": _callback_paths(p) for p in providers},
            **_operations(),
            **_admin([p.name for p in providers]),
            **_outbox_admin([p.name for p in providers]),
            **operator_paths(),
        },
        "components": _COMPONENTS,
    }
