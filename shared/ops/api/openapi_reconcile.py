"""The OpenAPI description of the admin API's reconciliation paths (``shared.ops.api.reconcile``)."""

from __future__ import annotations

from typing import Any

from shared.canonical import Status
from shared.ops.api.openapi import ADMIN, _errors, _ok

_RESULT = {
    "type": "object",
    "required": ["provider_status", "status", "previous_status", "result"],
    "properties": {
        "provider": {"type": "string"},
        "order_ref": {"type": "string"},
        "provider_status": {"type": "string", "description": "the provider's own words"},
        "status": {"type": "string", "enum": [str(s) for s in Status]},
        "previous_status": {"type": "string", "enum": [str(s) for s in Status]},
        "result": {"type": "string", "enum": ["unchanged", "corrected", "not_found", "error"]},
        "dry_run": {"type": "boolean"},
    },
}
_EXPECTED = {
    "type": "object",
    "required": ["provider", "order_ref"],
    "additionalProperties": False,
    "properties": {
        "provider": {"type": "string"},
        "order_ref": {"type": "string", "minLength": 1, "maxLength": 255},
        "account": {"type": "string", "description": "the merchant account (default: default)"},
        "provider_payment_id": {"type": "string", "description": "the provider's payment id (where it is asked by it)"},
        "amount": {"type": "string", "description": "a decimal amount, with currency"},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    },
}


def reconcile_paths(providers: list[str]) -> dict[str, Any]:
    provider = {"name": "provider", "in": "path", "required": True, "schema": {"type": "string", "enum": providers}}
    order_ref = {"name": "order_ref", "in": "path", "required": True, "schema": {"type": "string"}}
    dry_run = {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}}
    created = {"201": {"description": "Expected from now on", "content": {"application/json": {}}}}
    return {
        "/admin/payments/{provider}/{order_ref}/reconcile": {
            "post": {
                **ADMIN,
                "summary": "Ask the provider's status API about the payment now; apply its answer unless dry_run",
                "parameters": [provider, order_ref, dry_run],
                "responses": {**_ok(_RESULT), **_errors(400, 401, 422)},
            }
        },
        "/admin/payments/expected": {
            "post": {
                **ADMIN,
                "summary": "Expect a payment the merchant created (pending, asked about on the schedule)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _EXPECTED}}},
                "responses": {**created, **_ok({"type": "object"}), **_errors(400, 401, 422)},
            }
        },
        "/admin/payments/unresolved": {
            "get": {
                **ADMIN,
                "summary": "Payments still not final when the reconcile schedule was spent",
                "parameters": [
                    {"name": "provider", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                ],
                "responses": {**_ok({"type": "array", "items": {"type": "object"}}), **_errors(400, 401)},
            }
        },
    }
