"""Merchant accounts: each provider's callbacks on /callbacks/{provider}/{account} with that account's own
credentials, one order reference in two accounts as two payments, changes reaching running web processes,
secrets kept sealed and never shown, the account's API credentials for its queries (rotation:
test_account_rotation.py)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.accounts import keys, parse_settings
from shared.db import accounts as repo
from shared.ops.cli import main
from shared.providers import all_providers
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.fixtures import sample, signed
from tests.support.net import free_port
from tests.support.pipeline import drain_all, payment, rows
from tests.support.processes import Stack, wait_for
from tests.support.standin import StandIn, api_settings, serve_standin
from workers.context import WorkerContext
from workers.reconcile import ReconcileLoop

pytestmark = pytest.mark.integration
FERNET_KEY = "9fTpMgd6Gf0G3zqHn8pL0d1X1ZcS2oJYf4Yf3aQbL2o="


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def _credential(provider: str, folder: Path) -> tuple[str, Any]:
    """A credential of the provider's account of that name (``key=@file``), and its signer."""
    chosen = all_providers()[provider]
    signer = chosen.test_signer(folder)
    name = next(key for key, variable in keys(chosen).items() if variable == chosen.credential)
    secret_file = folder / "credential"
    secret_file.write_text(signer.secret)
    return f"{name}=@{secret_file}", signer


def _example(provider: str) -> bytes:
    chosen = all_providers()[provider]
    return chosen.samples()[chosen.example]


@pytest.mark.parametrize("provider", sorted(all_providers()))
def test_an_account_takes_callbacks_with_its_own_credentials_only(
    settings: Settings, tmp_path: Path, engine: Engine, provider: str
) -> None:
    env = env_for(settings.queue_prefix)
    credential, signer = _credential(provider, tmp_path / "acme")
    added = run(env, "accounts", "add", provider, "acme", credential, "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["route"] == f"/callbacks/{provider}/acme"
    body, headers = signer.sign(_example(provider))
    default_body, default_headers = signed(provider, _example(provider))
    with TestClient(create_app(settings, ring=False)) as web:
        assert web.post(f"/callbacks/{provider}/acme", content=body, headers=headers).status_code == 200
        assert web.post(f"/callbacks/{provider}/acme", content=default_body, headers=default_headers).status_code == 401
        assert web.post(f"/callbacks/{provider}", content=body, headers=headers).status_code == 401
        assert web.post(f"/callbacks/{provider}/nobody", content=body, headers=headers).status_code == 404
        assert (
            web.post(f"/callbacks/{provider}/default", content=default_body, headers=default_headers).status_code == 200
        )
    drain_all(settings)
    accounts = sorted(r.account for r in rows(engine, "SELECT account FROM payments"))
    assert accounts == ["acme", "default"]
    event_accounts = sorted(r.account for r in rows(engine, "SELECT account FROM payment_events"))
    assert event_accounts == ["acme", "default"]


def test_one_order_reference_in_two_accounts_is_two_payments(
    settings: Settings, tmp_path: Path, engine: Engine
) -> None:
    env = env_for(settings.queue_prefix)
    credential, signer = _credential("pivot", tmp_path)
    assert run(env, "accounts", "add", "pivot", "brand-b", credential).exit_code == 0
    with TestClient(create_app(settings, ring=False)) as web:
        for route, sign in (("pivot", lambda b: signed("pivot", b)), ("pivot/brand-b", signer.sign)):
            for name in ("payment_processing", "payment_paid"):
                body, headers = sign(sample(f"pivot.{name}"))
                assert web.post(f"/callbacks/{route}", content=body, headers=headers).status_code == 200
    drain_all(settings)
    default, other = payment(engine, "pivot", "1750758552"), payment(engine, "pivot", "1750758552", "brand-b")
    assert default is not None and other is not None
    assert (default["account"], default["status"], other["account"], other["status"]) == (
        "default",
        "paid",
        "brand-b",
        "paid",
    )
    shown = json.loads(run(env, "payments", "show", "pivot", "1750758552", "--account", "brand-b", "--json").stdout)
    assert [e["outcome"] for e in shown["events"]] == ["applied", "applied"]
    outbox = [json.loads(r.body)["data"]["account"] for r in rows(engine, "SELECT body FROM outbox_events ORDER BY id")]
    assert sorted(outbox) == ["brand-b", "brand-b", "default", "default"]


def _paid_in_brand_b(env: dict[str, str], settings: Settings, folder: Path) -> str:
    """The Pivot account brand-b, added by the CLI, and Pivot's paid example applied to it; its credential."""
    credential, signer = _credential("pivot", folder)
    assert run(env, "accounts", "add", "pivot", "brand-b", credential).exit_code == 0
    body, headers = signer.sign(sample("pivot.payment_paid"))
    with TestClient(create_app(settings, ring=False)) as web:
        assert web.post("/callbacks/pivot/brand-b", content=body, headers=headers).status_code == 200
    drain_all(settings)
    return credential


def test_payments_show_names_the_account_and_where_a_payment_missing_from_it_is(
    settings: Settings, tmp_path: Path
) -> None:
    env = env_for(settings.queue_prefix)
    _paid_in_brand_b(env, settings, tmp_path)
    missing = run(env, "payments", "show", "pivot", "1750758552")
    assert missing.exit_code == 1
    assert missing.stderr == (
        "payhook: no pivot payment with order reference '1750758552' in account 'default'"
        " (it is in account brand-b: add --account NAME)\n"
    )
    shown = run(env, "payments", "show", "pivot", "1750758552", "--account", "brand-b")
    assert shown.exit_code == 0 and shown.stdout.startswith("pivot 1750758552 (account brand-b): paid"), shown.stdout
    nowhere = run(env, "payments", "show", "pivot", "ORD-NONE", "--account", "brand-b")
    assert nowhere.stderr == "payhook: no pivot payment with order reference 'ORD-NONE' in account 'brand-b'\n"


def test_removing_an_account_with_payments_says_they_stay_and_is_audited(
    settings: Settings, tmp_path: Path, engine: Engine
) -> None:
    env = env_for(settings.queue_prefix, PAYHOOK_ADMIN_TOKEN="adm1n-t0ken")
    credential = _paid_in_brand_b(env, settings, tmp_path)
    assert run(env, "accounts", "add", "pivot", "brand-c", credential).exit_code == 0
    removed = run(env, "accounts", "remove", "pivot", "brand-b")
    assert removed.exit_code == 0
    assert removed.stdout.startswith("pivot account brand-b removed; its payment stays under its name"), removed.stdout
    with TestClient(create_app(Settings.from_env(env), ring=False)) as web:
        gone = web.delete("/admin/accounts/pivot/brand-c", headers={"Authorization": "Bearer adm1n-t0ken"})
        assert gone.json() == {"removed": True, "payments_kept": 0}
    said = [
        r.outcome for r in rows(engine, "SELECT outcome FROM audit_log WHERE action = 'account_remove' ORDER BY id")
    ]
    assert said == ["removed; 1 payment kept under its name", "removed; 0 payments kept under its name"]
    assert payment(engine, "pivot", "1750758552", "brand-b") is not None


def test_disabled_and_removed_accounts_are_404_and_changes_are_audited(settings: Settings, engine: Engine) -> None:
    env = env_for(settings.queue_prefix)
    assert run(env, "accounts", "add", "midtrans", "shop-2", "server_key=SB-Mid-server-SHOP2").exit_code == 0
    assert run(env, "accounts", "disable", "midtrans", "shop-2").exit_code == 0
    with TestClient(create_app(settings, ring=False)) as web:
        assert web.post("/callbacks/midtrans/shop-2", content=b"{}").status_code == 404
    assert run(env, "accounts", "enable", "midtrans", "shop-2").exit_code == 0
    with TestClient(create_app(settings, ring=False)) as web:
        assert web.post("/callbacks/midtrans/shop-2", content=b"{}").status_code == 401
    assert run(env, "accounts", "remove", "midtrans", "shop-2").exit_code == 0
    refused = run(env, "accounts", "add", "midtrans", "Bad Name", "server_key=x")
    assert refused.exit_code == 1 and "account's name" in refused.stderr
    unknown = run(env, "accounts", "add", "pivot", "x", "colour=red")
    assert unknown.exit_code == 1 and "pivot accounts take" in unknown.stderr and "callback_key" in unknown.stderr
    actions = [r.action for r in rows(engine, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == [
        "account_add",
        "account_disable",
        "account_enable",
        "account_remove",
        "account_add",
        "account_add",
    ]


def test_secrets_are_sealed_in_the_database_and_never_shown(settings: Settings, engine: Engine) -> None:
    env = env_for(settings.queue_prefix, PAYHOOK_ENCRYPTION_KEYS=FERNET_KEY, PAYHOOK_ADMIN_TOKEN="adm1n-t0ken")
    secrets = ("SECRET-callback-4242", "SECRET-merchant-4343")
    added = run(env, "accounts", "add", "pivot", "sealed", f"callback_key={secrets[0]}", "merchant_id=m-1",
                f"merchant_secret={secrets[1]}")  # fmt: skip
    assert added.exit_code == 0, added.output
    outputs = [
        added.stdout,
        run(env, "accounts", "list").stdout,
        run(env, "accounts", "list", "--json").stdout,
        run(env, "accounts", "show", "pivot", "sealed").stdout,
        run(env, "accounts", "show", "pivot", "sealed", "--json").stdout,
        run(env, "accounts", "rotate", "pivot", "sealed", f"callback_key={secrets[0]}-2", "--json").stdout,
        run(env, "audit", "list", "--json").stdout,
    ]
    with TestClient(create_app(Settings.from_env(env), ring=False)) as web:
        auth = {"Authorization": "Bearer adm1n-t0ken"}
        outputs += [
            web.get("/admin/accounts", headers=auth).text,
            web.get("/admin/accounts/pivot/sealed", headers=auth).text,
        ]
    shown = json.loads(outputs[4])["settings"]
    assert shown["merchant_id"] == "m-1" and shown["callback_key"].startswith("hmac-sha256:")
    for output in outputs:
        assert not any(secret in output for secret in secrets), output
    stored = rows(engine, "SELECT settings, previous, fingerprints::text AS f FROM accounts")[0]
    for secret in secrets:
        assert secret.encode() not in bytes(stored.settings) and secret.encode() not in bytes(stored.previous)
        assert secret not in stored.f
    assert all(secret not in str(tuple(r)) for r in rows(engine, "SELECT * FROM audit_log") for secret in secrets)


@pytest.fixture
def two_webs(settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    stacks = [Stack(env_for(settings.queue_prefix), free_port(), tmp_path) for _ in range(2)]
    for stack in stacks:
        stack.web()
    yield [stack.url for stack in stacks]
    for stack in stacks:
        stack.stop()


def test_a_new_account_reaches_running_web_processes_without_a_restart(settings: Settings, two_webs: list[str]) -> None:
    def answer(url: str) -> int:
        return httpx.post(f"{url}/callbacks/pivot/late", content=b"{}", headers={"X-API-Key": "late-key"}).status_code

    assert [answer(url) for url in two_webs] == [404, 404]
    assert (
        run(env_for(settings.queue_prefix), "accounts", "add", "pivot", "late", "callback_key=late-key").exit_code == 0
    )
    for url in two_webs:  # each reads the version key every second and reloads
        wait_for(lambda at=url: answer(at) == 200, 15, f"the account at {url}")  # type: ignore[misc]
    assert run(env_for(settings.queue_prefix), "accounts", "disable", "pivot", "late").exit_code == 0
    for url in two_webs:
        wait_for(lambda at=url: answer(at) == 404, 15, f"the account disabled at {url}")  # type: ignore[misc]


def _acme_processing_but_paid(env: dict[str, str], acme: StandIn) -> None:
    """The Pivot account acme, with its own status API at ``acme``, whose payment ORD-A a callback said is
    processing while acme's API holds it paid: reconciliation must correct it asking with acme's credentials."""
    added = run(env, "accounts", "add", "pivot", "acme", "callback_key=acme-key", "merchant_id=acme-merchant",
                "merchant_secret=acme-secret", f"api_url={acme.url}/pivot")  # fmt: skip
    assert added.exit_code == 0, added.output
    acme.sim("PUT", "/pivot/payments", {"id": "s-acme", "clientReferenceId": "ORD-A", "amount": 5, "status": "PAID"})
    with TestClient(create_app(Settings.from_env(env), ring=False)) as web:
        body = json.dumps({"event": "PAYMENT.PROCESSING", "data": {
            "id": "s-acme", "clientReferenceId": "ORD-A", "status": "PROCESSING",
            "amount": {"value": 5, "currency": "IDR"}, "updatedAt": "2025-01-01T00:00:00Z"}}).encode()  # fmt: skip
        assert web.post("/callbacks/pivot/acme", content=body, headers={"X-API-Key": "acme-key"}).status_code == 200
    drain_all(Settings.from_env(env))
    time.sleep(0.2)


def test_an_account_s_payments_are_asked_about_with_its_own_api_credentials(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Two stand-ins with different merchant credentials: the default account's at one, acme's at the other."""
    theirs = {"PAYHOOK_PIVOT_MERCHANT_ID": "acme-merchant", "PAYHOOK_PIVOT_MERCHANT_SECRET": "acme-secret"}
    with serve_standin() as ours_served, serve_standin(theirs) as acme_served:
        ours = StandIn(ours_served.url, httpx.Client(base_url=ours_served.url))
        acme = StandIn(acme_served.url, httpx.Client(base_url=acme_served.url))
        env = env_for(settings.queue_prefix, PAYHOOK_RECONCILE_SCHEDULE="0.1,0.1", **api_settings(ours.url))
        _acme_processing_but_paid(env, acme)
        ctx = WorkerContext(settings=Settings.from_env(env), pid=os.getpid())
        try:
            assert dict(ReconcileLoop(ctx).run()) == {"corrected": 1}
        finally:
            ctx.close()
        found = payment(engine, "pivot", "ORD-A", "acme")
        assert found is not None and found["status"] == "paid"
        assert any(r["path"].endswith("/v2/payments/s-acme") for r in acme.requests("pivot"))
        assert not ours.requests("pivot")


def _midtrans_signed(body: bytes, server_key: str) -> bytes:
    doc = json.loads(body)
    signed_text = doc["order_id"] + doc["status_code"] + doc["gross_amount"] + server_key
    doc["signature_key"] = hashlib.sha512(signed_text.encode()).hexdigest()
    return json.dumps(doc).encode()


def test_an_accounts_own_verify_decides_whether_its_callbacks_wait_for_get_status(
    settings: Settings, engine: Engine
) -> None:
    """The settings trust Midtrans bodies (verify off); an account that asks for Get Status is not trusted."""
    env = env_for(settings.queue_prefix)
    assert env["PAYHOOK_MIDTRANS_VERIFY"] == "off"
    keys_by_account = {"strict": "SB-Mid-server-STRICT", "trusting": "SB-Mid-server-TRUSTING"}
    added = run(env, "accounts", "add", "midtrans", "strict", f"server_key={keys_by_account['strict']}",
                "verify=status-api")  # fmt: skip
    assert added.exit_code == 0, added.output
    trusting = run(env, "accounts", "add", "midtrans", "trusting", f"server_key={keys_by_account['trusting']}")
    assert trusting.exit_code == 0, trusting.output
    refused = run(env, "accounts", "add", "midtrans", "vague", "server_key=SB-Mid-server-V", "verify=sometimes")
    assert refused.exit_code == 1 and "status-api or off" in refused.stderr
    with TestClient(create_app(settings, ring=False)) as web:
        for name, key in keys_by_account.items():
            body = _midtrans_signed(sample("midtrans.bank_transfer_settlement"), key)
            answer = web.post(f"/callbacks/midtrans/{name}", content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 200, answer.text
    drain_all(settings)
    joined = "payments JOIN payment_events e ON e.payment_id = payments.id"
    found = {r.account: (r.outcome, r.status) for r in rows(engine, f"SELECT payments.account, e.outcome, "
             f"payments.status FROM {joined}")}  # fmt: skip
    assert found == {"strict": ("unconfirmed", "pending"), "trusting": ("applied", "paid")}


def test_a_credential_given_without_its_name_is_not_echoed(settings: Settings) -> None:
    env = env_for(settings.queue_prefix)
    for given in ("callback_key:Sup3rS3cretK3y", "Sup3rS3cretK3y"):
        refused = run(env, "accounts", "add", "pivot", "leak", "merchant_id=m-1", given)
        assert refused.exit_code == 1 and "credential 2 is not KEY=VALUE" in refused.stderr
        assert "Sup3rS3cret" not in refused.output + refused.stderr


def test_an_account_whose_api_settings_do_not_parse_is_refused_and_stops_no_other_accounts_queries(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A Revenue Monster private key that is not PEM: refused by ``accounts add``; one stored all the same
    (before this check) is that account's answer only, and acme's payment is still asked about and corrected."""
    theirs = {"PAYHOOK_PIVOT_MERCHANT_ID": "acme-merchant", "PAYHOOK_PIVOT_MERCHANT_SECRET": "acme-secret"}
    public_key, _ = _credential("revenue-monster", tmp_path)
    broken = ("client_id=rm-client", "client_secret=rm-secret", "private_key=not-a-pem")
    with serve_standin(theirs) as acme_served:
        acme = StandIn(acme_served.url, httpx.Client(base_url=acme_served.url))
        env = env_for(settings.queue_prefix, PAYHOOK_RECONCILE_SCHEDULE="0.1,0.1", **api_settings(acme.url))
        refused = run(env, "accounts", "add", "revenue-monster", "broken", public_key, *broken)
        assert refused.exit_code == 1 and "PRIVATE_KEY is not an unencrypted PEM" in refused.stderr
        with Session(engine) as session, session.begin():
            stored = dict(item.split("=", 1) for item in broken)
            pem = (tmp_path / "credential").read_text()
            repo.add(session, "revenue-monster", "broken", parse_settings(all_providers()["revenue-monster"],
                     {**stored, "public_key": pem}), Settings.from_env(env).sealer)  # fmt: skip
        expected = run(env, "payments", "expect", "revenue-monster", "ORD-R", "--account", "broken")
        assert expected.exit_code == 0, expected.output
        _acme_processing_but_paid(env, acme)
        ctx = WorkerContext(settings=Settings.from_env(env), pid=os.getpid())
        try:
            report = dict(ReconcileLoop(ctx).run())
        finally:
            ctx.close()
        assert report.get("corrected") == 1, report
        found = payment(engine, "pivot", "ORD-A", "acme")
        assert found is not None and found["status"] == "paid"
        details = [r.provider_status for r in rows(engine, "SELECT provider_status FROM payment_checks")]
        assert any("PRIVATE_KEY is not an unencrypted PEM" in d for d in details), details
