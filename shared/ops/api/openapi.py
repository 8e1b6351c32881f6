"""The OpenAPI description of the admin API (``/admin/*``), beside its routes; ``ingest.openapi`` composes
it with the callback paths and the probes into the document the web process serves."""

from __future__ import annotations

from typing import Any

from shared.canonical import EVENT_TYPES, DeliveryStatus
from shared.db.letter_filters import ALIASES, FIELDS

ADMIN: dict[str, Any] = {"security": [{"bearer": []}]}
_OBJECT = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    described = {
        400: "Malformed request",
        401: "Authentication failed",
        404: "Not found",
        409: "The delivery is being sent right now",
        422: "Refused: the message says why (a host not allowed, an unknown event type or provider)",
    }
    return {str(c): {"description": described[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def _accepted(description: str) -> dict[str, Any]:
    return {"202": {"description": description, "content": {"application/json": {}}}}


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def admin_paths(providers: list[str]) -> dict[str, Any]:
    """Every admin path, in the order the document lists them."""
    return {**_admin(providers), **_outbox_admin(providers), **_operator_paths()}


def letter_filters() -> list[dict[str, Any]]:
    """Every dead-letter filter (``FIELDS``), for lists, counts, dry runs, replays and purges; free text also
    under its earlier name."""
    found = []
    for field in FIELDS:
        schema = {"type": "string", "format": "date-time"} if field.kind == "time" else {"type": "string"}
        found.append(_query(field.name, field.description, schema))
        if field.name in ALIASES:
            alias = f"the same as {field.name} (its earlier name); {field.name} wins when both are given"
            found.append(_query(ALIASES[field.name], alias, schema))
    return found


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _operator_paths() -> dict[str, Any]:
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    page = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
        {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    ]
    accepted = _accepted("A job started (or the one already running)")
    return {
        "/admin/dead-letters/counts": {
            "get": {
                **ADMIN,
                "summary": "Waiting dead letters by reason, for the filters",
                "parameters": letter_filters(),
                "responses": {**_OBJECT, **_errors(400, 401)},
            }
        },
        "/admin/dead-letters/purge": {
            "post": {
                **ADMIN,
                "summary": "Purge every dead letter the filters select, as a background job",
                "parameters": letter_filters(),
                "responses": {**accepted, **_errors(400, 401)},
            }
        },
        "/admin/jobs": {
            "get": {
                **ADMIN,
                "summary": "Bulk replay and purge jobs, newest first",
                "responses": {**_OBJECT, **_errors(401)},
            }
        },
        "/admin/jobs/{job_id}": {
            "get": {
                **ADMIN,
                "summary": "One job's progress",
                "parameters": [job_id],
                "responses": {**_OBJECT, **_errors(400, 401, 404)},
            }
        },
        "/admin/jobs/{job_id}/cancel": {
            "post": {
                **ADMIN,
                "summary": "Stop a job after the chunk in hand",
                "parameters": [job_id],
                "responses": {**_OBJECT, **_errors(400, 401, 404)},
            }
        },
        "/admin/audit": {
            "get": {
                **ADMIN,
                "summary": "Every operator action, newest first",
                "parameters": page,
                "responses": {**_OBJECT, **_errors(400, 401)},
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
                "responses": {
                    **_ok({"type": "object"}),
                    **_accepted("A job started (or the one already running for this filter)"),
                    **_errors(400, 401, 404),
                },
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
    statuses = {"type": "string", "enum": [str(s) for s in DeliveryStatus]}
    filters = [
        {"name": "endpoint", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "status", "in": "query", "schema": statuses},
    ]
    fields = {
        "url": {"type": "string", "format": "uri"},
        "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "provider": {"type": "string", "enum": names},
        "account": {"type": "string", "description": "only this merchant account's payments (null: every account)"},
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
                (
                    "patch",
                    "Change url, events, provider, account, enabled",
                    {"requestBody": body([])},
                    _ok({"type": "object"}),
                ),
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
