"""The receiver fuzzed against its own OpenAPI document (schemathesis), on the real Redis and PostgreSQL.

Every operation the document describes gets schema-driven requests, valid and invalid, in schemathesis's
coverage and fuzzing phases, plus methods the document does not name. Whatever arrives:

- nothing answers 5xx (a 503 would mean the queue is unreachable or a provider unconfigured, and neither
  is the case here);
- every error answer is the API's one error shape, ``{"error": str, "message": str}``, and every answer
  matches what the document says of its content type, headers and body;
- nothing reaches the queue: the fuzzer knows no provider's credentials, so the stream stays empty, after
  every request and after the whole run.

The admin API is on (``PAYHOOK_ADMIN_TOKEN``) and the fuzzer holds the token, so the admin handlers and their
database queries are fuzzed too, not only their 401; schemathesis also sends them without it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, event, settings
from redis import Redis
from schemathesis import Case
from schemathesis.core.transport import Response
from schemathesis.python import asgi
from starlette.testclient import TestClient

from ingest import openapi
from ingest.routes import FastPath
from ingest.server import create_app
from shared.providers import all_providers
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.support.fixtures import PIVOT_KEY, PROVIDERS, sample, signer

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "fuzz-admin-token"
# Per operation, for the fuzzing phase; the coverage phase adds its own cases. About 20 s in all.
MAX_EXAMPLES = 500
SECRETS = {signer(name).secret for name in PROVIDERS}


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            # The document declares no links: nothing for the stateful phase to chain.
            "phases": {"stateful": {"enabled": False}},
            "auth": {"openapi": {"bearer": {"bearer": ADMIN_TOKEN}}},
        }
    )


# The document the app serves, loaded at import time: the app itself needs the per-test settings (Redis
# prefix, database), so a fixture builds it, checks that it serves exactly this document, and every case is
# sent to it. (``schemathesis.pytest.from_fixture`` could load the schema from the app in a fixture, but in
# schemathesis 4.32.5 it reads ``Function._nodeid``, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_dict(openapi.document(list(all_providers().values()), admin=True), config=_config())

# What the responses must conform to, besides the checks below. Not ``status_code_conformance``: the document
# does not list 404 for /callbacks/{provider}, which answers it for a provider it does not know. Not
# ``allow_header_conformance``: see test_allow_header_names_every_method.
RESPONSE_CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def stream(settings: Settings) -> str:
    return QueueKeys(settings.queue_prefix).stream


def _app(settings: Settings) -> FastPath:
    return create_app(dataclasses.replace(settings, admin_token=ADMIN_TOKEN), ring=False)


@pytest.fixture
def fuzzed_app(settings: Settings, redis: Redis, stream: str) -> Iterator[FastPath]:
    app = _app(settings)
    served = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())
    assert served.raw_schema == schema.raw_schema
    yield app
    # schemathesis keeps an app's lifespan running until the process exits: end this one's now.
    asgi.shutdown_lifespans()
    assert redis.xlen(stream) == 0, f"the fuzz run queued {redis.xlen(stream)} callbacks"


def _without_secrets(case: Case[Any]) -> None:
    """The fuzzer must get past authentication on its own, if it can: it never sends a test credential."""
    for name, value in list((case.headers or {}).items()):
        if isinstance(value, str) and value.strip() in SECRETS:
            case.headers[name] = f"not-{value}"
    sent = [value.strip() for value in (case.headers or {}).values() if isinstance(value, str)]
    assert not SECRETS.intersection(sent)


def _assert_error_shape(status: int, content_type: str, body: bytes) -> None:
    assert content_type.startswith("application/json"), (status, content_type, body[:300])
    document = json.loads(body)
    assert isinstance(document, dict), (status, document)
    assert isinstance(document.get("error"), str), (status, document)
    assert isinstance(document.get("message"), str), (status, document)


def _content_type(response: Response) -> str:
    values = response.headers.get("content-type") or [""]
    return values[0]


@schema.parametrize()
# One app and one Redis prefix for all the cases of an operation: the stream must stay empty across them all.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_survives_its_own_document(case: Case[Any], fuzzed_app: FastPath, redis: Redis, stream: str) -> None:
    _without_secrets(case)
    try:
        response = case.call(app=fuzzed_app)
    except Exception as exc:
        # Starlette's ServerErrorMiddleware sends its 500 and then re-raises, for the server to log.
        raise AssertionError(f"500: the app raised {type(exc).__name__}: {str(exc)[:300]}") from exc
    event(f"{case.method.upper()} -> {response.status_code}")  # see --hypothesis-show-statistics
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    if response.status_code >= 400 and case.method.upper() != "HEAD":
        _assert_error_shape(response.status_code, _content_type(response), response.content)
    if case.method.upper() == "POST" and case.path.startswith("/callbacks/"):
        assert response.status_code != 200, f"a callback was accepted: {response.text[:300]}"
    case.validate_response(response, checks=RESPONSE_CHECKS)
    assert redis.xlen(stream) == 0


def test_the_empty_stream_means_something(settings: Settings, redis: Redis, stream: str) -> None:
    """The control for the fuzz run's empty stream: the same app, on the same kind of prefix, queues a
    callback that does carry the key (and the fuzz run would have seen it)."""
    with TestClient(_app(settings)) as client:
        answer = client.post(
            "/callbacks/pivot",
            content=sample("pivot.payment_paid"),
            headers={"X-API-Key": PIVOT_KEY, "Content-Type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    assert redis.xlen(stream) == 1


@pytest.mark.parametrize(
    "url",
    ["/admin/dead-letters?provider=%00", "/admin/payments/pivot/%00"],
    ids=["dead-letters-filter", "payment-reference"],
)
def test_admin_nul_in_a_filter_or_a_reference(settings: Settings, url: str) -> None:
    with TestClient(_app(settings), raise_server_exceptions=False) as client:
        answer = client.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code in {400, 404}, (answer.status_code, answer.text)
    _assert_error_shape(answer.status_code, answer.headers.get("content-type", ""), answer.content)


def test_allow_header_names_every_method(settings: Settings) -> None:
    with TestClient(_app(settings)) as client:
        answer = client.request("PATCH", "/admin/dead-letters/1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 405
    allowed = {method.strip() for method in answer.headers["allow"].split(",")}
    assert {"GET", "DELETE"} <= allowed, answer.headers["allow"]


@pytest.mark.parametrize(
    ("method", "url", "headers"),
    [
        ("GET", "/admin/dead-letters?limit=%C2%B9", {}),
        ("GET", "/admin/dead-letters/%C2%B9", {}),
        ("POST", "/callbacks/pivot", {b"content-length": b"\xb9"}),
    ],
    ids=["limit", "letter-id", "content-length"],
)
def test_superscript_digits_are_not_numbers(
    settings: Settings, method: str, url: str, headers: dict[bytes, bytes]
) -> None:
    """Regression (found by the fuzzer): ``"¹".isdigit()`` is true and ``int("¹")`` raises, which was a 500."""
    with TestClient(_app(settings), raise_server_exceptions=False) as client:
        answer = client.request(
            method, url, headers={b"authorization": f"Bearer {ADMIN_TOKEN}".encode(), **headers}, content=b"{}"
        )
    assert answer.status_code == 400, (answer.status_code, answer.text)
    _assert_error_shape(answer.status_code, answer.headers.get("content-type", ""), answer.content)
