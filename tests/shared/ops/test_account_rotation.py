"""Rotating a merchant account's credentials: the old key and the new both work until the overlap ends, the
overlap is 30 days at most (and a time a clock can hold), and the audit trail says how long the old key lives."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.ops.cli import main
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import sample
from tests.support.pipeline import rows

pytestmark = pytest.mark.integration


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_a_rotated_key_and_the_old_one_both_work_until_the_overlap_ends(settings: Settings, tmp_path: Path) -> None:
    env = env_for(settings.queue_prefix)
    assert run(env, "accounts", "add", "pivot", "acme", "callback_key=old-key-1").exit_code == 0
    rotated = run(env, "accounts", "rotate", "pivot", "acme", "callback_key=new-key-2", "--keep-previous", "3600")
    assert rotated.exit_code == 0, rotated.output

    def answers() -> dict[str, int]:
        with TestClient(create_app(settings, ring=False)) as web:
            return {
                key: web.post(
                    "/callbacks/pivot/acme", content=sample("pivot.payment_paid"), headers={"X-API-Key": key}
                ).status_code
                for key in ("old-key-1", "new-key-2", "other")
            }

    assert answers() == {"old-key-1": 200, "new-key-2": 200, "other": 401}
    assert (
        run(env, "accounts", "rotate", "pivot", "acme", "callback_key=new-key-3", "--keep-previous", "0").exit_code == 0
    )
    assert answers() == {"old-key-1": 401, "new-key-2": 401, "other": 401} | {}
    with TestClient(create_app(settings, ring=False)) as web:
        ok = web.post("/callbacks/pivot/acme", content=sample("pivot.payment_paid"), headers={"X-API-Key": "new-key-3"})
        assert ok.status_code == 200


@pytest.mark.parametrize("overlap", ["1e300", "1e20", "inf", "nan", "2592001"])
def test_an_overlap_past_thirty_days_or_no_clock_can_hold_is_refused_in_one_line_and_audited(
    settings: Settings, engine: Engine, overlap: str
) -> None:
    env = env_for(settings.queue_prefix, PAYHOOK_ADMIN_TOKEN="adm1n-t0ken")
    assert run(env, "accounts", "add", "pivot", "acme", "callback_key=old-key-1").exit_code == 0
    refused = run(env, "accounts", "rotate", "pivot", "acme", "callback_key=new-key-2", "--keep-previous", overlap)
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit), refused.exception
    assert refused.stderr.startswith("payhook: keep_previous is 0 to 2592000 seconds"), refused.stderr
    with TestClient(create_app(Settings.from_env(env), ring=False)) as web:
        answer = web.patch(
            "/admin/accounts/pivot/acme",
            json={"credentials": {"callback_key": "new-key-3"}, "keep_previous": 1e300},
            headers={"Authorization": "Bearer adm1n-t0ken"},
        )
        assert answer.status_code == 422 and "keep_previous" in answer.json()["message"], answer.text
        paid = web.post(
            "/callbacks/pivot/acme", content=sample("pivot.payment_paid"), headers={"X-API-Key": "old-key-1"}
        )
        assert paid.status_code == 200
    outcomes = rows(engine, "SELECT outcome FROM audit_log WHERE action = 'account_rotate' ORDER BY id")
    assert [r.outcome.split(":")[0] for r in outcomes] == ["refused", "refused"]
    within = run(env, "accounts", "rotate", "pivot", "acme", "callback_key=new-key-2", "--keep-previous", "2592000")
    assert within.exit_code == 0, within.output


def test_a_rotation_s_audit_entry_says_how_long_the_old_credentials_stay_valid(
    settings: Settings, engine: Engine
) -> None:
    env = env_for(settings.queue_prefix)
    assert run(env, "accounts", "add", "pivot", "acme", "callback_key=old-key-1").exit_code == 0
    assert run(env, "accounts", "rotate", "pivot", "acme", "callback_key=k-2", "--keep-previous", "3600").exit_code == 0
    assert run(env, "accounts", "rotate", "pivot", "acme", "callback_key=k-3", "--keep-previous", "0").exit_code == 0
    said = [
        r.outcome for r in rows(engine, "SELECT outcome FROM audit_log WHERE action = 'account_rotate' ORDER BY id")
    ]
    assert said == [
        "rotated callback_key; the previous valid 3600 s more",
        "rotated callback_key; the previous at once",
    ]
