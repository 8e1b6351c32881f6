"""What every console page shares, without I/O: security headers on every answer (a page's own stay), whole
numbers from forms and paths, links that keep the filters but drop a shown message, redirects back with one.
Messages are named, not the text they show."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from shared.ops.console.base import HEADERS, MESSAGES, back, field, number, path_number, query, secure


def _request(path: str, query_string: bytes = b"", params: dict[str, str] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "path": path,
        "query_string": query_string,
        "headers": [],
        "path_params": params or {},
    }
    return Request(scope)


def test_every_answer_gets_the_security_headers_and_keeps_its_own() -> None:
    answer = secure(Response("x", headers={"Cache-Control": "max-age=60"}))
    assert answer.headers["cache-control"] == "max-age=60"
    assert all(answer.headers[name] for name in HEADERS)
    assert answer.headers["x-frame-options"] == HEADERS["X-Frame-Options"]


def test_whole_numbers_from_forms_and_paths() -> None:
    assert number("42") == 42
    for raw in (None, "", "-1", "4.2", "٣", "9" * 18):
        assert number(raw) is None
    assert path_number(_request("/console/letters/7", params={"letter_id": "7"}), "letter_id") == 7
    assert path_number(_request("/console/letters/x", params={"letter_id": "x"}), "letter_id") is None
    form = FormData([("token", "t"), ("empty", "")])
    assert field(form, "token") == "t" and field(form, "missing") is None


def test_links_keep_the_filters_and_drop_a_shown_message() -> None:
    request = _request("/console/letters", b"provider=pivot&message=replayed&after=10")
    link = urlsplit(query(request, after=20))
    assert link.path == "/console/letters"
    assert parse_qs(link.query) == {"provider": ["pivot"], "after": ["20"]}


def test_back_redirects_with_a_known_message() -> None:
    assert "replayed" in MESSAGES
    plain, filtered = back("/console/letters", "replayed"), back("/console/letters?provider=pivot", "purged")
    assert plain.status_code == 303 and plain.headers["location"] == "/console/letters?message=replayed"
    assert filtered.headers["location"] == "/console/letters?provider=pivot&message=purged"
