"""Console sessions end on the server (issue 18a): after signing out, the old cookie and its CSRF token open
nothing, in this web process or another; a session idle past 30 minutes is gone; the 8 hours still hold."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from sqlalchemy import Engine
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.ops.console.session import COOKIE, IDLE_SECONDS, ConsoleSessions
from shared.settings import Settings
from tests.ops.conftest import TOKENS
from tests.ops.test_console import csrf_of, sign_in
from tests.support.pipeline import drain_all, post, scalar

pytestmark = pytest.mark.integration


def _web(settings: Settings) -> TestClient:
    app = create_app(dataclasses.replace(settings, admin_tokens=TOKENS), ring=False)
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


@pytest.fixture
def two_webs(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two web processes of one deployment, each with its own browser."""
    with _web(settings) as one, _web(settings) as two:
        yield one, two


def _sid_key(settings: Settings, redis: Redis, cookie: str) -> str:
    sessions = ConsoleSessions({token: actor for actor, token in TOKENS}, redis, settings.queue_prefix)
    session, _ = sessions._parse(cookie)
    assert session is not None
    return sessions.key(session.sid)


def test_a_signed_out_cookie_opens_nothing_anywhere(
    two_webs: tuple[TestClient, TestClient], settings: Settings, engine: Engine
) -> None:
    one, two = two_webs
    post(one, "pivot", b"{broken")
    drain_all(settings)
    csrf = sign_in(one)
    cookie = one.cookies[COOKIE]
    two.cookies.set(COOKIE, cookie, path="/console")  # the same cookie, on another web process
    assert two.get("/console/audit").status_code == 200

    out = one.post("/console/sign-out", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in?message=signed-out"
    for web in (one, two):
        web.cookies.set(COOKIE, cookie, path="/console")  # kept, or copied before signing out
        page = web.get("/console/audit")
        assert page.status_code == 303 and page.headers["location"] == "/console/sign-in?reason=expired"
        purge = web.post("/console/dead-letters/1/purge", data={"csrf": csrf})
        assert purge.status_code == 403
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 1
    assert scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'dlq.purge'") == 0


def test_signing_out_in_one_process_ends_the_session_in_the_other(
    two_webs: tuple[TestClient, TestClient], settings: Settings
) -> None:
    one, two = two_webs
    sign_in(one)
    two.cookies.set(COOKIE, one.cookies[COOKIE], path="/console")
    csrf = csrf_of(two.get("/console/dead-letters").text)
    assert two.post("/console/sign-out", data={"csrf": csrf}).status_code == 303
    assert one.get("/console/dead-letters").headers["location"] == "/console/sign-in?reason=expired"


def test_an_idle_session_is_gone_and_each_request_renews_it(
    two_webs: tuple[TestClient, TestClient], settings: Settings, redis: Redis
) -> None:
    one, _ = two_webs
    sign_in(one)
    key = _sid_key(settings, redis, one.cookies[COOKIE])
    assert 0 < redis.ttl(key) <= IDLE_SECONDS
    redis.expire(key, 5)  # as if idle for 29 min 55 s
    assert one.get("/console/dead-letters").status_code == 200
    assert redis.ttl(key) > 5  # the request renewed it
    redis.delete(key)  # as if idle for 30 minutes: Redis let it expire
    answer = one.get("/console/dead-letters")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in?reason=expired"


def test_the_idle_timeout_never_reaches_past_the_eight_hours(settings: Settings, redis: Redis) -> None:
    sessions = ConsoleSessions({"t": "alice"}, redis, settings.queue_prefix)
    fresh = sessions.sign_in("t")
    assert fresh is not None
    late = dataclasses.replace(fresh, issued=time.time() - sessions.lifetime + 120)  # 2 minutes left
    cookie = sessions.cookie(late)
    assert sessions.read(cookie)[0] is not None
    assert 0 < redis.ttl(sessions.key(fresh.sid)) <= 120
    over = dataclasses.replace(fresh, issued=time.time() - sessions.lifetime - 1)
    assert sessions.read(sessions.cookie(over)) == (None, "expired")
    assert sessions.read("not.signed") == (None, "invalid")
