"""The OpenAPI description of the admin API's merchant accounts (``shared.ops.api.accounts``)."""

from __future__ import annotations

from typing import Any

from shared.ops.api.openapi import ADMIN, _errors, _ok

_CREDENTIALS = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "settings by name: callback_key, public_key, server_key, merchant_id, merchant_secret, "
    "client_id, client_secret, private_key, allowed_sources, ...",
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def account_paths(providers: list[str]) -> dict[str, Any]:
    provider = {"name": "provider", "in": "path", "required": True, "schema": {"type": "string", "enum": providers}}
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,39}$"},
    }
    created = {"201": {"description": "Added", "content": {"application/json": {}}}}
    add = {
        "type": "object", "required": ["provider", "name"], "additionalProperties": False,
        "properties": {"provider": {"type": "string", "enum": providers}, "name": {"type": "string"},
                       "credentials": _CREDENTIALS},
    }  # fmt: skip
    change = {
        "type": "object", "additionalProperties": False,
        "properties": {"enabled": {"type": "boolean"}, "credentials": _CREDENTIALS,
                       "keep_previous": {"type": "number", "minimum": 0}},
    }  # fmt: skip
    return {
        "/admin/accounts": {
            "get": {**ADMIN, "summary": "Stored merchant accounts (secrets by fingerprint)",
                    "parameters": [{"name": "provider", "in": "query", "schema": {"type": "string"}}],
                    "responses": {**_ok({"type": "array", "items": {"type": "object"}}), **_errors(400, 401)}},
            "post": {**ADMIN, "summary": "Add a merchant account", "requestBody": _body(add),
                     "responses": {**created, **_errors(400, 401, 422)}},
        },
        "/admin/accounts/{provider}/{name}": {
            "get": {**ADMIN, "summary": "One account", "parameters": [provider, name],
                    "responses": {**_ok({"type": "object"}), **_errors(400, 401, 404)}},
            "patch": {**ADMIN, "summary": "Rotate credentials (the old stay valid keep_previous seconds), enable or "
                      "disable", "parameters": [provider, name], "requestBody": _body(change),
                      "responses": {**_ok({"type": "object"}), **_errors(400, 401, 422)}},
            "delete": {**ADMIN, "summary": "Remove an account", "parameters": [provider, name],
                       "responses": {**_ok({"type": "object"}), **_errors(400, 401, 422)}},
        },
    }  # fmt: skip
