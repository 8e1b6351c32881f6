"""Endpoints and deliveries as operators manage them: the admin API and the CLI, secret rotation checked with
the reference Standard Webhooks verifier, the allow-list of hosts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from shared.ops.cli import main
from shared.settings import Settings
from tests.conftest import env_for
from tests.support.admin import AUTH, admin_client
from tests.support.hooks import Answer, Endpoint
from tests.support.outbox import deliver_until
from tests.support.pipeline import drain_all, pivot_event, post, scalar

pytestmark = pytest.mark.integration


def cli(settings: Settings, *args: str, **env: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env_for(settings.queue_prefix, **env))


def test_endpoints_over_the_admin_api(admin: TestClient) -> None:
    made = admin.post(
        "/admin/endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "events": ["payment.paid"], "provider": "pivot"},
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    endpoint = made.json()
    assert endpoint["secret"].startswith("whsec_")
    assert (endpoint["events"], endpoint["provider"], endpoint["enabled"]) == (["payment.paid"], "pivot", True)
    listed = admin.get("/admin/endpoints", headers=AUTH).json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
    path = f"/admin/endpoints/{endpoint['id']}"
    changed = admin.patch(path, json={"enabled": False, "events": ["payment.paid", "payment.refunded"]}, headers=AUTH)
    assert changed.status_code == 200
    assert (changed.json()["enabled"], changed.json()["events"]) == (False, ["payment.paid", "payment.refunded"])
    assert admin.patch(path, json={"enabled": True}, headers=AUTH).json()["disabled_reason"] is None
    rotated = admin.post(f"{path}/rotate-secret", headers=AUTH).json()
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_valid_until"]
    assert admin.delete(path, headers=AUTH).status_code == 204
    assert admin.get(path, headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"url": "ftp://merchant.invalid/x"}, 422, "http or https"),
        ({"url": "http://u:p@merchant.invalid/x"}, 422, "credentials"),
        ({"url": "http://127.0.0.1:9/x", "events": ["payment.nope"]}, 422, "unknown event types payment.nope"),
        ({"url": "http://127.0.0.1:9/x", "provider": "stripe"}, 422, "unknown provider 'stripe'"),
        ({"url": "http://127.0.0.1:9/x", "colour": "red"}, 400, "unknown fields colour"),
        ({"events": ["payment.paid"]}, 400, "url is required"),
        ({"url": "http://127.0.0.1:9/x", "enabled": "yes"}, 400, "enabled must be true or false"),
    ],
)
def test_bad_endpoint_requests_are_refused_naming_what_is_wrong(
    admin: TestClient, body: dict[str, Any], status: int, says: str
) -> None:
    answer = admin.post("/admin/endpoints", json=body, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["message"]


def test_the_allow_list_keeps_endpoints_off_other_hosts(settings: Settings) -> None:
    allowed = {"PAYHOOK_ENDPOINT_ALLOWED_HOSTS": "*.merchant.example,hooks.partner.example"}
    refused = cli(settings, "endpoints", "add", "http://127.0.0.1:6379/", **allowed)
    assert refused.exit_code != 0
    assert "host '127.0.0.1' is not in PAYHOOK_ENDPOINT_ALLOWED_HOSTS" in refused.stderr
    assert cli(settings, "endpoints", "add", "http://127.0.0.2/latest", **allowed).exit_code != 0
    assert cli(settings, "endpoints", "add", "https://merchant.example.evil.test/", **allowed).exit_code != 0
    assert cli(settings, "endpoints", "add", "https://pay.merchant.example/hooks", **allowed).exit_code == 0
    assert cli(settings, "endpoints", "add", "https://hooks.partner.example/", **allowed).exit_code == 0


def test_an_endpoint_added_before_the_allow_list_is_not_sent_to(
    settings: Settings, engine: Engine, web: TestClient, prefix: str
) -> None:
    with Endpoint() as hook:
        assert cli(settings, "endpoints", "add", hook.url).exit_code == 0
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-al", "order-al", "PAID"))
        drain_all(settings)
        strict = Settings.from_env(env_for(prefix, PAYHOOK_ENDPOINT_ALLOWED_HOSTS="*.merchant.example"))
        deliver_until(strict, lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'failed'") == 1)
        assert hook.events() == []
    listed = json.loads(cli(settings, "deliveries", "list", "--status", "failed", "--json").stdout)
    assert "not in PAYHOOK_ENDPOINT_ALLOWED_HOSTS" in listed[0]["last_error"]


def test_rotation_signs_with_both_secrets_and_the_cli_manages_endpoints_and_deliveries(
    settings: Settings, engine: Engine, web: TestClient
) -> None:
    with Endpoint(lambda _r, n: Answer(500) if n == 0 else Answer()) as hook:
        added = cli(settings, "endpoints", "add", hook.url, "--events", "payment.paid,payment.processing", "--json")
        assert added.exit_code == 0, added.output
        made = json.loads(added.stdout)
        rotated = cli(settings, "endpoints", "rotate-secret", str(made["id"]), "--json")
        assert rotated.exit_code == 0, rotated.output
        new_secret = json.loads(rotated.stdout)["secret"]
        post(web, "pivot", pivot_event("PAYMENT.PAID", "ps-rot", "order-rot", "PAID"))
        drain_all(settings)
        fast = Settings.from_env(env_for(settings.queue_prefix, PAYHOOK_DELIVERY_RETRY_SCHEDULE="0.1"))
        deliver_until(fast, lambda: len(hook.events()) == 2)
        request = hook.events()[-1]
        # Both signatures: a receiver that still has the old secret and one that has the new both verify.
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in (made["secret"], new_secret):
            assert Webhook(secret).verify(request.body, request.headers)["type"] == "payment.paid"
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)
    listed = cli(settings, "deliveries", "list", "--endpoint", str(made["id"]), "--json")
    assert listed.exit_code == 0
    [delivery] = json.loads(listed.stdout)
    assert (delivery["status"], delivery["attempts"], delivery["type"]) == ("delivered", 2, "payment.paid")
    shown_one = cli(settings, "deliveries", "show", str(delivery["id"]))
    assert shown_one.exit_code == 0 and " 500 " in shown_one.stdout and " 200 " in shown_one.stdout
    assert json.loads(cli(settings, "deliveries", "show", str(delivery["id"]), "--json").stdout)["attempts"] == 2
    assert cli(settings, "deliveries", "show", "999999").exit_code != 0
    text_list = cli(settings, "deliveries", "list")
    assert "payment.paid" in text_list.stdout and "delivered" in text_list.stdout
    shown = json.loads(cli(settings, "endpoints", "list", "--json").stdout)
    assert shown[0]["events"] == ["payment.paid", "payment.processing"] and "secret" not in shown[0]
    assert cli(settings, "endpoints", "disable", str(made["id"])).exit_code == 0
    assert "disabled (disabled by an operator)" in cli(settings, "endpoints", "list").stdout
    assert cli(settings, "endpoints", "enable", str(made["id"])).exit_code == 0
    again = cli(settings, "deliveries", "retry", str(delivery["id"]))
    assert again.exit_code == 0 and "retried 1 delivery" in again.stdout
    missing = cli(settings, "deliveries", "retry", "999999")
    assert missing.exit_code != 0 and "999999" in missing.stderr
    assert cli(settings, "deliveries", "retry").exit_code != 0
    assert cli(settings, "endpoints", "remove", str(made["id"])).exit_code == 0
    assert cli(settings, "endpoints", "remove", str(made["id"])).exit_code != 0
    assert scalar(engine, "SELECT count(*) FROM deliveries") == 0


def test_deliveries_over_the_admin_api(admin: TestClient, settings: Settings, engine: Engine) -> None:
    with Endpoint(lambda _r, _n: Answer(503, body=b"x" * 5000)) as hook:
        admin.post("/admin/endpoints", json={"url": hook.url}, headers=AUTH)
        post(admin, "pivot", pivot_event("PAYMENT.PAID", "ps-ad", "order-ad", "PAID"))
        drain_all(settings)
        fast = Settings.from_env(env_for(settings.queue_prefix, PAYHOOK_DELIVERY_RETRY_SCHEDULE="0.1"))
        deliver_until(fast, lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'failed'") == 1)
    page = admin.get("/admin/deliveries", params={"status": "failed"}, headers=AUTH).json()
    [item] = page["items"]
    assert page["next_before"] is None
    detail = admin.get(f"/admin/deliveries/{item['id']}", headers=AUTH).json()
    assert [a["status_code"] for a in detail["attempt_log"]] == [503, 503]
    assert len(detail["attempt_log"][0]["response"]) == 1024  # the first KB of the answer
    assert detail["event"]["type"] == "payment.paid"
    assert admin.post(f"/admin/deliveries/{item['id']}/retry", headers=AUTH).json() == {"retried": [item["id"]]}
    assert admin.post("/admin/deliveries/999/retry", headers=AUTH).status_code == 404
    assert admin.get("/admin/deliveries", params={"status": "lost"}, headers=AUTH).status_code == 400
    assert admin.post("/admin/deliveries/retry", headers=AUTH).status_code == 400


LOOPBACK_URLS = ["http://127.0.0.1:9/hooks", "http://localhost:9/hooks", "http://0x7f000001:9/hooks", "http://[::1]:9/"]


def test_endpoints_at_loopback_are_refused_unless_private_endpoints_are_allowed(
    admin: TestClient, settings: Settings
) -> None:
    existing = admin.post("/admin/endpoints", json={"url": "http://127.0.0.1:9/hooks"}, headers=AUTH).json()
    with admin_client(settings, endpoint_allow_private=False) as client:
        for url in LOOPBACK_URLS:
            for answer in (
                client.post("/admin/endpoints", json={"url": url}, headers=AUTH),
                client.patch(f"/admin/endpoints/{existing['id']}", json={"url": url}, headers=AUTH),
            ):
                assert answer.status_code == 422, (url, answer.text)
                assert "loopback" in answer.json()["message"], url
    refused = cli(settings, "endpoints", "add", "http://localhost:9/hooks", PAYHOOK_ENDPOINT_ALLOW_PRIVATE="false")
    assert refused.exit_code != 0 and "localhost resolves to" in refused.stderr
    assert "PAYHOOK_ENDPOINT_ALLOW_PRIVATE=true" in refused.stderr
    # Allowed (as in every other test here): the same URLs are taken.
    for url in LOOPBACK_URLS:
        assert admin.post("/admin/endpoints", json={"url": url}, headers=AUTH).status_code == 201, url


def test_the_cli_and_the_admin_api_aim_an_endpoint_at_one_account(settings: Settings) -> None:
    made = cli(settings, "endpoints", "add", "https://hooks.merchant.invalid/a", "--account", "shop", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["account"] == "shop"
    listed = cli(settings, "endpoints", "list")
    assert "shop" in listed.stdout and "account" in listed.stdout
    with admin_client(settings) as web:
        added = web.post(
            "/admin/endpoints", json={"url": "https://hooks.merchant.invalid/b", "account": "b2"}, headers=AUTH
        )
        assert added.status_code == 201 and added.json()["account"] == "b2", added.text
        changed = web.patch(f"/admin/endpoints/{added.json()['id']}", json={"account": None}, headers=AUTH)
        assert changed.status_code == 200 and changed.json()["account"] is None, changed.text
        bad = web.post(
            "/admin/endpoints", json={"url": "https://hooks.merchant.invalid/c", "account": "B 2"}, headers=AUTH
        )
        assert bad.status_code == 422 and "account's name" in bad.json()["message"], bad.text
