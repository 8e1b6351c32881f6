"""Console sessions: signed cookies any web process can check, ended by the token's removal or their age, and
CSRF tokens bound to the session. Sessions live in the real Redis, under the test's prefix."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from redis import Redis

from shared.ops.console.session import ConsoleSessions

pytestmark = pytest.mark.integration

TOKENS = {"token-of-ana-" + "a" * 20: "ana", "token-of-bo-" + "b" * 20: "bo"}


def _signed_in(sessions: ConsoleSessions, token: str = next(iter(TOKENS))) -> str:
    session = sessions.sign_in(token)
    assert session is not None
    return sessions.cookie(session)


def test_a_valid_token_signs_in_as_its_actor_and_another_does_not(redis: Redis, prefix: str) -> None:
    sessions = ConsoleSessions(TOKENS, redis, prefix)
    session = sessions.sign_in("token-of-bo-" + "b" * 20)
    assert session is not None and session.actor == "bo"
    assert sessions.sign_in("token-of-bo-") is None and sessions.sign_in("") is None


def test_another_process_with_the_same_tokens_reads_the_cookie(redis: Redis, prefix: str) -> None:
    cookie = _signed_in(ConsoleSessions(TOKENS, redis, prefix))
    session, why = ConsoleSessions(dict(TOKENS), redis, prefix).read(cookie)
    assert why is None and session is not None and session.actor == "ana"


def test_a_tampered_cookie_is_invalid_and_no_cookie_is_no_session(redis: Redis, prefix: str) -> None:
    sessions = ConsoleSessions(TOKENS, redis, prefix)
    payload, signature = _signed_in(sessions).rsplit(".", 1)
    assert sessions.read(f"{payload}x.{signature}") == (None, "invalid")
    assert sessions.read(f"{payload}.{signature[:-2]}") == (None, "invalid")
    assert sessions.read(None) == (None, None) and sessions.read("no-dot") == (None, None)


def test_removing_the_token_or_age_ends_the_session(redis: Redis, prefix: str) -> None:
    cookie = _signed_in(ConsoleSessions(TOKENS, redis, prefix))
    rotated = {token: actor for token, actor in TOKENS.items() if actor != "ana"}
    # Other tokens sign with another key: a cookie of a removed token is never read as valid.
    assert ConsoleSessions(rotated, redis, prefix).read(cookie)[0] is None
    old = ConsoleSessions(TOKENS, redis, prefix, lifetime_seconds=60)
    session = old.sign_in(next(iter(TOKENS)))
    assert session is not None
    aged = old.cookie(replace(session, issued=time.time() - 61))
    assert old.read(aged) == (None, "expired")


def test_csrf_tokens_belong_to_their_session(redis: Redis, prefix: str) -> None:
    sessions = ConsoleSessions(TOKENS, redis, prefix)
    one, two = sessions.sign_in(next(iter(TOKENS))), sessions.sign_in(next(iter(TOKENS)))
    assert one is not None and two is not None
    assert sessions.check_csrf(one, sessions.csrf(one))
    assert not sessions.check_csrf(one, sessions.csrf(two))
    assert not sessions.check_csrf(one, None) and not sessions.check_csrf(one, "")
