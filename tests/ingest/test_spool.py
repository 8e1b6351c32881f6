"""The fallback spool: while Redis cannot take a callback (cut, hung, or above its memory high-water mark),
the receiver stores it in PostgreSQL and answers 200; once Redis is back every spooled callback is moved
into the stream exactly once, in order, and applied once. 503 only when neither store takes it."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from typing import Any, cast

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.ops.cli import main
from shared.queue import MOVE_SCRIPT, QueuedCallback, QueueKeys, move_args, move_keys
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import sample, signed
from tests.support.net import TcpProxy
from tests.support.pipeline import drain_all, payment, pivot_event, rows, scalar
from workers.context import WorkerContext
from workers.maintenance import move_spool

pytestmark = pytest.mark.integration


def _via(url: str, port: int) -> str:
    return make_url(url).set(port=port).render_as_string(hide_password=False)


@pytest.fixture
def redis_proxy(settings: Settings) -> Iterator[TcpProxy]:
    with TcpProxy(make_url(settings.redis_url).port or 6379) as proxy:
        yield proxy


def _post(web: TestClient, provider: str, body: bytes) -> Any:
    sent, headers = signed(provider, body)
    return web.post(f"/callbacks/{provider}", content=sent, headers=headers)


def _move(settings: Settings) -> int:
    ctx = WorkerContext(settings=settings, pid=os.getpid())
    try:
        return move_spool(ctx)
    finally:
        ctx.close()


def test_redis_cut_callbacks_are_spooled_then_moved_once_in_order_and_applied_once(
    settings: Settings, redis_proxy: TcpProxy, redis: Redis, engine: Engine
) -> None:
    faulty = dataclasses.replace(settings, redis_url=_via(settings.redis_url, redis_proxy.port))
    bodies = [pivot_event("PAYMENT.PAID", f"sess-{i}", f"order-{i}", "PAID") for i in range(20)]
    with TestClient(create_app(faulty, ring=False)) as web:
        redis_proxy.cut()
        answers = [_post(web, "pivot", body) for body in bodies]
        answers.append(_post(web, "midtrans", sample("midtrans.bank_transfer_settlement")))
        assert web.get("/readyz").status_code == 200, "ready: the spool can take callbacks"
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["status"] for a in answers} == {"spooled"}
    assert scalar(engine, "SELECT count(*) FROM spooled_callbacks") == len(answers)

    env = env_for(settings.queue_prefix, PAYHOOK_REDIS_URL=faulty.redis_url)
    shown = json.loads(CliRunner().invoke(main, ["stats", "--json"], env=env).stdout)
    assert (shown["queued"], shown["in_flight"], shown["spooled"]) == (None, None, len(answers))

    redis_proxy.restore()
    assert _move(settings) == len(answers)
    assert _move(settings) == 0, "moved exactly once"
    keys = QueueKeys(settings.queue_prefix)
    queued = [QueuedCallback.decode(fields).body for _, fields in cast(Any, redis.xrange(keys.stream))]
    assert queued[: len(bodies)] == bodies, "in the order they were received"
    assert scalar(engine, "SELECT count(*) FROM spooled_callbacks") == 0
    drain_all(settings)
    assert scalar(engine, "SELECT count(*) FROM payment_events WHERE outcome = 'applied'") == len(answers)
    assert payment(engine, "midtrans", "PH-MT-20250314-0001")["status"] == "paid"  # type: ignore[index]


def test_a_hung_redis_does_not_hold_the_request_it_is_spooled(
    settings: Settings, redis_proxy: TcpProxy, engine: Engine
) -> None:
    faulty = dataclasses.replace(settings, redis_url=_via(settings.redis_url, redis_proxy.port))
    with TestClient(create_app(faulty, ring=False)) as web:
        assert _post(web, "pivot", sample("pivot.payment_paid")).json()["status"] == "queued"
        redis_proxy.freeze()
        hung = _post(web, "pivot", sample("pivot.payment_processing"))
        redis_proxy.thaw()
    assert hung.status_code == 200 and hung.json()["status"] == "spooled"
    assert scalar(engine, "SELECT count(*) FROM spooled_callbacks") == 1


def test_503_only_when_neither_redis_nor_the_spool_takes_it(settings: Settings, redis_proxy: TcpProxy) -> None:
    with TcpProxy(make_url(settings.database_url).port or 5432) as db_proxy:
        faulty = dataclasses.replace(
            settings,
            redis_url=_via(settings.redis_url, redis_proxy.port),
            database_url=_via(settings.database_url, db_proxy.port),
        )
        with TestClient(create_app(faulty, ring=False)) as web:
            redis_proxy.cut()
            db_proxy.cut()
            refused = _post(web, "pivot", sample("pivot.payment_paid"))
            ready = web.get("/readyz")
    assert refused.status_code == 503 and refused.json()["error"] == "unavailable"
    assert ready.status_code == 503, ready.text


def test_with_the_spool_off_a_cut_redis_is_a_503(settings: Settings, redis_proxy: TcpProxy, engine: Engine) -> None:
    faulty = dataclasses.replace(settings, redis_url=_via(settings.redis_url, redis_proxy.port), fallback_spool=False)
    with TestClient(create_app(faulty, ring=False)) as web:
        redis_proxy.cut()
        assert _post(web, "pivot", sample("pivot.payment_paid")).status_code == 503
    assert scalar(engine, "SELECT count(*) FROM spooled_callbacks") == 0


def _spool_row(engine: Engine, spool_id: int | None, body: bytes) -> None:
    with engine.begin() as conn:
        if spool_id is None:
            conn.exec_driver_sql(
                "INSERT INTO spooled_callbacks (provider, body, headers, received_at) VALUES ('pivot', %s, '{}', 1.0)",
                (body,),
            )
        else:
            conn.exec_driver_sql(
                "INSERT INTO spooled_callbacks (id, provider, body, headers, received_at) "
                "VALUES (%s, 'pivot', %s, '{}', 1.0)",
                (spool_id, body),
            )


def test_a_move_whose_delete_failed_is_not_repeated(settings: Settings, redis: Redis, engine: Engine) -> None:
    keys = QueueKeys(settings.queue_prefix)
    for i in range(3):
        _spool_row(engine, None, pivot_event("PAYMENT.PAID", f"s-{i}", f"o-{i}", "PAID"))
    ids = [r.id for r in rows(engine, "SELECT id FROM spooled_callbacks ORDER BY id")]
    # A mover appended them, then died before its delete committed.
    spooled = [(spool_id, QueuedCallback("pivot", b"x", {}, 1.0)) for spool_id in ids]
    redis.register_script(MOVE_SCRIPT)(keys=move_keys(keys), args=move_args(spooled))
    assert redis.xlen(keys.stream) == 3
    assert _move(settings) == 0
    assert redis.xlen(keys.stream) == 3, "nothing appended twice"
    assert scalar(engine, "SELECT count(*) FROM spooled_callbacks") == 0
    assert redis.scard(keys.spool_moved) == 0, "the moved ids are forgotten with their rows"


def test_a_spool_row_committed_after_a_later_one_is_still_moved(
    settings: Settings, redis: Redis, engine: Engine
) -> None:
    """Receivers insert concurrently: id 10 may commit after id 11 was moved. It must not be skipped."""
    _spool_row(engine, 11, pivot_event("PAYMENT.PAID", "s-11", "o-11", "PAID"))
    assert _move(settings) == 1
    _spool_row(engine, 10, pivot_event("PAYMENT.PAID", "s-10", "o-10", "PAID"))
    assert _move(settings) == 1
    assert redis.xlen(QueueKeys(settings.queue_prefix).stream) == 2
    drain_all(settings)
    assert scalar(engine, "SELECT count(*) FROM payments WHERE status = 'paid'") == 2
