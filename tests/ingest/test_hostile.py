"""Hostile input against the real receiver process (uvicorn as the Procfile runs it) and the real Redis.

One process takes every case below; afterwards the queue must hold exactly the authenticated callbacks,
the authenticated garbage must sit in the dead-letter queue with its reason, and the receiver's memory
must be where it started.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from redis import Redis
from sqlalchemy import Engine

from shared.providers import revenue_monster as rm
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import KEYS, PIVOT_KEY, sample
from tests.support.net import CLOSED, free_port, raw_request, read_response, stream_chunked
from tests.support.pipeline import drain_all, payment, rows
from tests.support.processes import Stack

pytestmark = pytest.mark.integration
ADMIN_TOKEN = "hostile-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEADLINE = 1.5
IN_FLIGHT = 6


@dataclass
class Target:
    stack: Stack
    http: httpx.Client
    other_key: rsa.RSAPrivateKey

    @property
    def port(self) -> int:
        return self.stack.port


@dataclass(frozen=True)
class Case:
    name: str
    send: Callable[[Target], int]
    expect: frozenset[int]
    queued: int = 0  # stream entries it must add


def case(name: str, expect: int | set[int], queued: int = 0) -> Callable[[Callable[[Target], int]], Case]:
    def wrap(send: Callable[[Target], int]) -> Case:
        return Case(name, send, frozenset({expect} if isinstance(expect, int) else expect), queued)

    return wrap


def _pivot(t: Target, body: bytes, **headers: str) -> int:
    return t.http.post("/callbacks/pivot", content=body, headers=headers).status_code


def _rm(t: Target, body: bytes, headers: dict[str, str]) -> int:
    return t.http.post("/callbacks/revenue-monster", content=body, headers=headers).status_code


PAID = sample("pivot.payment_paid")
RM = sample("revenue-monster.payment_web_online")


RM_KEY = rm.test_key(KEYS)


def _signed(body: bytes, **overrides: str) -> dict[str, str]:
    return {**rm.sign_headers(body, RM_KEY), **overrides}


def _deep(depth: int) -> bytes:
    return b'{"event":' * depth + b"1" + b"}" * depth


CASES: list[Case] = [
    # -- Pivot: forged or wrong keys -------------------------------------------------------------------
    case("pivot: no key", 401)(lambda t: _pivot(t, PAID)),
    case("pivot: empty key", 401)(lambda t: _pivot(t, PAID, **{"X-API-Key": ""})),
    case("pivot: wrong key", 401)(lambda t: _pivot(t, PAID, **{"X-API-Key": "guess"})),
    case("pivot: key prefix", 401)(lambda t: _pivot(t, PAID, **{"X-API-Key": PIVOT_KEY[:-1]})),
    case("pivot: key with suffix", 401)(lambda t: _pivot(t, PAID, **{"X-API-Key": PIVOT_KEY + "x"})),
    case("pivot: key upper-cased", 401)(lambda t: _pivot(t, PAID, **{"X-API-Key": PIVOT_KEY.upper()})),
    case("pivot: key as bearer token", 401)(lambda t: _pivot(t, PAID, Authorization=f"Bearer {PIVOT_KEY}")),
    case("pivot: non-ASCII key", 401)(
        lambda t: raw_request(
            t.port,
            b"POST /callbacks/pivot HTTP/1.1\r\nHost: x\r\nX-API-Key: \xe9\xff\r\nContent-Length: 2\r\n\r\n{}",
        )[0]
    ),
    case("pivot: wrong key first, right key second", 401)(
        lambda t: raw_request(
            t.port,
            f"POST /callbacks/pivot HTTP/1.1\r\nHost: x\r\nX-API-Key: nope\r\nX-API-Key: {PIVOT_KEY}\r\n"
            f"Content-Length: 2\r\n\r\n{{}}".encode(),
        )[0]
    ),
    # -- Revenue Monster: forged and tampered signatures -----------------------------------------------
    case("rm: no signature headers", 401)(lambda t: _rm(t, RM, {})),
    case("rm: md5 scheme", 401)(lambda t: _rm(t, RM, _signed(RM, **{"X-Signature": "md5 AAAA"}))),
    case("rm: signature not base64", 401)(lambda t: _rm(t, RM, _signed(RM, **{"X-Signature": "sha256 %%%"}))),
    case("rm: signature of wrong length", 401)(
        lambda t: _rm(t, RM, _signed(RM, **{"X-Signature": "sha256 " + base64.b64encode(b"x" * 100).decode()}))
    ),
    case("rm: signed by another key", 401)(lambda t: _rm(t, RM, rm.sign_headers(RM, t.other_key))),
    case("rm: amount tampered", 401)(lambda t: _rm(t, RM.replace(b'"amount": 100', b'"amount": 1'), _signed(RM))),
    case("rm: nonce tampered", 401)(lambda t: _rm(t, RM, {**_signed(RM), "X-Nonce-Str": "other"})),
    case("rm: timestamp tampered", 401)(lambda t: _rm(t, RM, {**_signed(RM), "X-Timestamp": "1"})),
    case("rm: signature of another body", 401)(
        lambda t: _rm(t, RM, _signed(sample("revenue-monster.recurring_payment")))
    ),
    case("rm: not JSON", 401)(lambda t: _rm(t, b"<xml/>", _signed(RM))),
    case("rm: nesting bomb", 401)(lambda t: _rm(t, b"[" * 50_000 + b"]" * 50_000, _signed(RM))),
    case("rm: number bomb", 401)(lambda t: _rm(t, b'{"a": 1e999999}', _signed(RM))),
    case("rm: 500k-digit integer", 401)(lambda t: _rm(t, b'{"a": ' + b"9" * 500_000 + b"}", _signed(RM))),
    case("rm: invalid UTF-8", 401)(lambda t: _rm(t, b'{"a": "\xff\xfe"}', _signed(RM))),
    case("rm: byte-order mark", 401)(lambda t: _rm(t, b"\xef\xbb\xbf" + RM, _signed(RM))),
    # -- Genuine callbacks, replayed: accepted, and deduplicated downstream ----------------------------
    *[case(f"rm: genuine callback, delivery {i}", 200, queued=1)(lambda t: _rm(t, RM, _signed(RM))) for i in (1, 2, 3)],
    case("rm: genuine, pretty-printed differently", 200, queued=1)(
        lambda t: _rm(t, json.dumps(json.loads(RM), indent=9).encode(), _signed(RM))
    ),
    *[
        case(f"pivot: genuine callback, delivery {i}", 200, queued=1)(
            lambda t: _pivot(t, PAID, **{"X-API-Key": PIVOT_KEY})
        )
        for i in (1, 2)
    ],
    # -- Sizes ------------------------------------------------------------------------------------------
    case("declared body over the limit", 413)(
        lambda t: raw_request(
            t.port,
            f"POST /callbacks/pivot HTTP/1.1\r\nHost: x\r\nX-API-Key: {PIVOT_KEY}\r\n"
            f"Content-Length: {10**9}\r\n\r\n".encode(),
        )[0]
    ),
    case("1 GB chunked upload", 413)(
        lambda t: _cut_off(stream_chunked(t.port, "/callbacks/pivot", {"X-API-Key": PIVOT_KEY}, total=10**9))
    ),
    case("unauthenticated 1 GB chunked upload", 413)(
        lambda t: _cut_off(stream_chunked(t.port, "/callbacks/revenue-monster", {}, total=10**9))
    ),
    case("Content-Length not a number", 400)(
        lambda t: raw_request(t.port, b"POST /callbacks/pivot HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")[0]
    ),
    # -- Slow clients ------------------------------------------------------------------------------------
    case("head trickled in, never finished", CLOSED)(lambda t: _slow_head(t)),
    case("body stalled half-way", 408)(lambda t: _stalled_body(t)),
    case("more callbacks in flight than the bound", 503)(lambda t: _beyond_bound(t)),
    # -- Authenticated garbage: accepted, then dead-lettered with its reason -----------------------------
    case("pivot: authenticated nesting bomb", 200, queued=1)(
        lambda t: _pivot(t, _deep(5000), **{"X-API-Key": PIVOT_KEY})
    ),
    case("pivot: authenticated number bomb", 200, queued=1)(
        lambda t: _pivot(t, b'{"event": 1e999999}', **{"X-API-Key": PIVOT_KEY})
    ),
    case("pivot: authenticated invalid UTF-8", 200, queued=1)(
        lambda t: _pivot(t, b'{"event": "\xff"}', **{"X-API-Key": PIVOT_KEY})
    ),
    case("pivot: authenticated 900 kB reference", 200, queued=1)(
        lambda t: _pivot(t, PAID.replace(b'"1750758552"', b'"' + b"r" * 900_000 + b'"', 1), **{"X-API-Key": PIVOT_KEY})
    ),
    case("pivot: authenticated NUL in reference", 200, queued=1)(
        lambda t: _pivot(
            t,
            PAID.replace(b'"1750758552"', b'"nul\\u0000ref"').replace(b"bca0b57a", b"00000000"),
            **{"X-API-Key": PIVOT_KEY},
        )
    ),
    case("pivot: authenticated empty body", 200, queued=1)(lambda t: _pivot(t, b"", **{"X-API-Key": PIVOT_KEY})),
    # -- Admin: the token, compared in constant time; missing and wrong look the same ----------------------
    case("admin: no token", 401)(lambda t: t.http.get("/admin/dead-letters").status_code),
    case("admin: wrong token", 401)(
        lambda t: t.http.get("/admin/dead-letters", headers={"Authorization": "Bearer nope"}).status_code
    ),
    case("admin: token without Bearer", 401)(
        lambda t: t.http.get("/admin/dead-letters", headers={"Authorization": ADMIN_TOKEN}).status_code
    ),
    case("admin: bad id with a good token", 400)(
        lambda t: t.http.get("/admin/dead-letters/abc", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code
    ),
    case("admin: the scheme in lower case (case-insensitive, RFC 9110)", 200)(
        lambda t: t.http.get("/admin/dead-letters", headers={"Authorization": f"bearer {ADMIN_TOKEN}"}).status_code
    ),
    case("admin: a wrong token in lower case", 401)(
        lambda t: t.http.get("/admin/dead-letters", headers={"Authorization": "bearer nope"}).status_code
    ),
    case("admin: authenticated 1 GB chunked endpoint", 413)(
        lambda t: _cut_off(stream_chunked(t.port, "/admin/endpoints", ADMIN, total=10**9))
    ),
    case("admin: authenticated 400 MB Content-Length", 413)(
        lambda t: _cut_off(stream_chunked(t.port, "/admin/endpoints", ADMIN, total=400 * 2**20, length=True))
    ),
    # -- HTTP oddities ---------------------------------------------------------------------------------------
    case("unknown provider", 404)(lambda t: _pivot_path(t, "/callbacks/stripe")),
    case("path traversal", 404)(
        lambda t: raw_request(
            t.port, b"POST /callbacks/../admin/dead-letters HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )[0]
    ),
    case("PUT on a callback", 405)(lambda t: t.http.put("/callbacks/pivot", content=b"{}").status_code),
    case("garbage request line", 400)(lambda t: raw_request(t.port, b"\x16\x03\x01\x02\x00 nonsense\r\n\r\n")[0]),
]


def _pivot_path(t: Target, path: str) -> int:
    return t.http.post(path, content=PAID, headers={"X-API-Key": PIVOT_KEY}).status_code


def _cut_off(result: tuple[int, int]) -> int:
    status, sent = result
    assert sent < 64 * 2**20, f"the upload was not cut off: {sent} bytes went in"
    return status


def _slow_head(t: Target) -> int:
    """A header line every 0.25 s, for ever: the server must close the connection (CLOSED, not SILENT)."""
    with socket.create_connection(("127.0.0.1", t.port), timeout=DEADLINE * 4) as sock:
        sock.sendall(b"POST /callbacks/pivot HTTP/1.1\r\nHost: x\r\n")
        for _ in range(int(DEADLINE * 8)):
            try:
                sock.sendall(b"X-Slow: y\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.25)
        status, _ = read_response(sock)
        return status


# A callback whose head promises 100 bytes of body, of which one arrives.
_STALLED_HEAD = f"POST /callbacks/pivot HTTP/1.1\r\nHost: x\r\nX-API-Key: {PIVOT_KEY}\r\nContent-Length: 100\r\n\r\n{{"


def _stalled_body(t: Target) -> int:
    with socket.create_connection(("127.0.0.1", t.port), timeout=DEADLINE * 4) as sock:
        sock.sendall(_STALLED_HEAD.encode())
        return read_response(sock)[0]


def _beyond_bound(t: Target) -> int:
    stalled = []
    try:
        for _ in range(IN_FLIGHT):
            sock = socket.create_connection(("127.0.0.1", t.port), timeout=DEADLINE * 4)
            sock.sendall(_STALLED_HEAD.encode())
            stalled.append(sock)
        time.sleep(0.2)
        # Beyond the bound the answer is an immediate 503, not a wait behind the stalled ones.
        return _pivot(t, PAID, **{"X-API-Key": PIVOT_KEY})
    finally:
        for sock in stalled:
            sock.close()
        _wait_for_free_slots(t)


def _wait_for_free_slots(t: Target) -> None:
    """The server frees a slot when it sees the disconnect: wait for that before the next case."""
    deadline = time.monotonic() + 5
    while _pivot(t, b"{}", **{"X-API-Key": "probe"}) == 503:
        assert time.monotonic() < deadline, "slots were not freed after the clients went away"
        time.sleep(0.02)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def target(settings: Settings, tmp_path: Path) -> Iterator[Target]:
    env = env_for(
        settings.queue_prefix,
        PAYHOOK_ADMIN_TOKEN=ADMIN_TOKEN,
        PAYHOOK_REQUEST_TIMEOUT_SECONDS=str(DEADLINE),
        PAYHOOK_MAX_CONCURRENT_REQUESTS=str(IN_FLIGHT),
    )
    stack = Stack(env, free_port(), tmp_path)
    stack.web()
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        yield Target(stack, http, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    stack.stop()


def test_hostile_input_gets_deliberate_answers_and_only_authenticated_callbacks_are_queued(
    target: Target, settings: Settings, redis: Redis, engine: Engine
) -> None:
    keys = QueueKeys(settings.queue_prefix)
    for _ in range(200):  # warm up before measuring memory
        _pivot(target, b"{}", **{"X-API-Key": "warm-up"})
    pid = target.stack.procs[0].pid
    rss_before = _rss_mb(pid)
    outcomes: list[tuple[str, int, bool]] = []
    for hostile in CASES:
        status = hostile.send(target)
        outcomes.append((hostile.name, status, status in hostile.expect))
    failed = [(name, status) for name, status, ok in outcomes if not ok]
    summary = Counter(status for _, status, _ in outcomes)
    print(f"\n{len(CASES)} hostile cases; answers: {dict(sorted(summary.items()))}")
    assert not failed, f"unexpected answers: {failed}"
    assert redis.xlen(keys.stream) == sum(c.queued for c in CASES), "exactly the authenticated callbacks are queued"
    rss_after = _rss_mb(pid)
    print(f"receiver RSS {rss_before:.1f} MB -> {rss_after:.1f} MB")
    assert rss_after < rss_before + 16, f"receiver memory grew from {rss_before:.1f} to {rss_after:.1f} MB"
    assert target.stack.procs[0].poll() is None, "the receiver is still running"

    drain_all(settings)
    reasons = Counter(r.reason for r in rows(engine, "SELECT reason FROM dead_letters"))
    assert reasons == Counter({"invalid_json": 4, "invalid_field": 1, "database_rejected": 1}), reasons
    rm = payment(engine, "revenue-monster", "P000000660800")
    assert rm is not None and rm["status"] == "paid"
    assert Counter(e["outcome"] for e in rm["events"]) == Counter({"applied": 1, "duplicate": 3})


def test_missing_and_wrong_admin_tokens_look_the_same(target: Target) -> None:
    missing = target.http.get("/admin/payments/pivot/x")
    wrong = target.http.get("/admin/payments/pivot/x", headers={"Authorization": "Bearer wrong"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.content == wrong.content
    assert {k: v for k, v in missing.headers.items() if k != "date"} == {
        k: v for k, v in wrong.headers.items() if k != "date"
    }
    good = target.http.get("/admin/payments/pivot/x", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert good.status_code == 404 and good.json()["error"] == "not_found"


def test_every_error_answer_has_the_one_json_shape(target: Target) -> None:
    answers: list[Any] = [
        target.http.post("/callbacks/pivot", content=PAID),
        target.http.post("/callbacks/stripe", content=PAID),
        target.http.get("/nowhere"),
        target.http.put("/callbacks/pivot"),
        target.http.get("/admin/dead-letters"),
        target.http.post("/callbacks/pivot", content=b"x" * (settings_limit() + 1), headers={"X-API-Key": PIVOT_KEY}),
        target.http.get("/admin/nowhere", headers=ADMIN),
        target.http.put("/admin/endpoints", headers=ADMIN),
        target.http.post("/admin/endpoints", content=b" " * 65_537, headers=ADMIN),
    ]
    for answer in answers:
        assert answer.status_code >= 400
        body = answer.json()
        assert set(body) == {"error", "message"} and all(isinstance(v, str) for v in body.values()), body


def test_redirects_name_no_host_from_the_request(target: Target) -> None:
    """A forged Host header never comes back in a Location: slash redirects are paths."""
    forged = {"Host": "attacker.invalid"}
    for path, location in [
        ("/healthz/", "/healthz"),
        ("/admin", "/admin/"),
        ("/admin/dead-letters/?limit=1", "/admin/dead-letters?limit=1"),
    ]:
        answer = target.http.get(path, headers={**forged, **ADMIN}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (307, location), path
    # A path whose other form would be a network-path reference ("//host") is not redirected at all.
    status, _ = raw_request(target.port, b"GET //attacker.invalid/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404


def settings_limit() -> int:
    return Settings.from_env({}).max_body_bytes
