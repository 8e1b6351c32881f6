"""The providers' stand-in as a package: its app (one mount per provider surface, the control API under
``/_sim``) and the settings that point payhook's status clients at it. In-process (Starlette's test client),
keys in a temporary folder."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from shared.providers import all_providers
from shared.providers._standin import NOWHERE, client_settings, create_app
from shared.providers._standin.config import StandInConfig


def test_client_settings_configure_the_status_apis_and_make_the_keys(tmp_path: Path) -> None:
    settings = client_settings("http://127.0.0.1:8765", tmp_path)
    assert Path(settings["PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY_FILE"]).is_file()
    assert all(value.startswith("http://127.0.0.1:8765/") for key, value in settings.items() if key.endswith("_URL"))
    providers = all_providers()
    # Midtrans's status API takes the callbacks' server key, which is the settings' own, not the stand-in's.
    for name in ("pivot", "revenue-monster"):
        api = providers[name].status_api
        assert api is not None and api.configured(settings), name
    assert NOWHERE.startswith("http://127.0.0.1:")


def test_the_app_serves_the_control_api_and_each_providers_surface(tmp_path: Path) -> None:
    app = create_app(StandInConfig.from_env({}, tmp_path))
    with TestClient(app) as client:
        made = client.put(
            "/_sim/pivot/payments", json={"id": "p-1", "clientReferenceId": "ORD-1", "amount": 100, "status": "PAID"}
        )
        assert made.status_code == 201
        shown = client.get("/_sim/pivot/payments/p-1")
        assert shown.status_code == 200 and shown.json()["status"] == "PAID"
        # The provider's own API wants its credentials: a request without them is refused, not served.
        assert client.get("/pivot/v2/payments/p-1").status_code in {401, 403}
        assert client.get("/_sim/nothing-here").status_code == 404
