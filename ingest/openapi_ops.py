"""The OpenAPI description of the operators' admin paths beyond payments and single letters: counts, bulk
purges, jobs and the audit trail (the callback paths and the rest are in ``ingest.openapi``)."""

from __future__ import annotations

from typing import Any

ADMIN: dict[str, Any] = {"security": [{"bearer": []}]}
_OBJECT = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    described = {400: "Malformed request", 401: "Authentication failed", 404: "Not found"}
    return {str(c): {"description": described[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def letter_filters() -> list[dict[str, Any]]:
    """Every dead-letter filter, for lists, counts, dry runs, replays and purges."""
    text = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
        for n in ("provider", "reason", "event_type", "order_ref", "q")
    ]
    times = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"}}
        for n in ("since", "until")
    ]
    return text + times


def operator_paths() -> dict[str, Any]:
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    page = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
        {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    ]
    accepted = {
        "202": {"description": "A job started (or the one already running)", "content": {"application/json": {}}}
    }
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
