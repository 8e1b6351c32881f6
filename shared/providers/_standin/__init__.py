"""A local stand-in of the three providers' status APIs, for development and tests: provider APIs are
never called for real. It follows the providers' documentation, not payhook's clients, so that a misreading
on either side shows up as a failing test.

One app, one loopback port:

- ``/pivot``: Pivot's token endpoint and API (``PAYHOOK_PIVOT_API_URL=http://127.0.0.1:PORT/pivot``);
- ``/revenue-monster/oauth`` and ``/revenue-monster/open``: Revenue Monster's OAuth server and Open API
  (``PAYHOOK_REVENUE_MONSTER_OAUTH_URL`` and ``PAYHOOK_REVENUE_MONSTER_API_URL``); every API request must
  be signed with the merchant key whose public half the stand-in holds;
- ``/midtrans`` (sandbox server key) and ``/midtrans-production`` (production key), over the same
  transactions (``PAYHOOK_MIDTRANS_API_URL=http://127.0.0.1:PORT/midtrans``);
- ``/_sim``: the control API (payments, callbacks, faults, the clock, the requests seen; see ``control``).

``payhook simulate [--port P] [--data-dir D]`` will call ``serve(port, settings=os.environ, keys=D /
"keys")``: the credentials it accepts are read from the settings payhook's API clients read, and the
throwaway keys are those ``payhook dev`` keeps in its data folder (made there on first use).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send

from shared.providers._standin.config import StandInConfig
from shared.providers._standin.control import control_app
from shared.providers._standin.gate import DROP, Gate, dropper
from shared.providers._standin.world import World

__all__ = ["DEFAULT_KEYS", "NOWHERE", "StandInConfig", "client_settings", "create_app", "serve"]

# A loopback address where nothing listens: status clients pointed here are configured and never reach anyone
# (tests and benchmarks that must not query a provider, and must not fall back to the real APIs' defaults).
NOWHERE = "http://127.0.0.1:9"

# Where ``payhook dev`` keeps its throwaway keys (its default data folder).
DEFAULT_KEYS = Path(".payhook") / "keys"


class StandInApp(Starlette):
    """The app, which also leaves each request a way to cut its connection (the drop_connection fault)."""

    world: World

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[DROP] = dropper(send)
        await super().__call__(scope, receive, send)


def create_app(config: StandInConfig | None = None) -> Starlette:
    """The stand-in of the three providers, with the control API; ``config`` defaults to the throwaway
    credentials (keys in ``DEFAULT_KEYS``)."""
    world = World(config or StandInConfig.from_env({}, DEFAULT_KEYS))
    routes: list[BaseRoute] = [
        Mount(surface.prefix, app=Gate(provider, surface, world.clock, world.faults, world.log))
        for provider in world.providers.values()
        for surface in provider.surfaces()
    ]
    routes.append(Mount("/_sim", app=control_app(world)))
    app = StandInApp(routes=routes)
    app.world = world
    return app


def client_settings(url: str, keys: Path) -> dict[str, str]:
    """Settings that point payhook's status clients at a stand-in served at ``url``, with the stand-in's
    throwaway client credentials (the merchant key kept in ``keys``, made there on first use)."""
    StandInConfig.from_env({}, keys)  # makes the throwaway keys when missing
    return {
        "PAYHOOK_PIVOT_API_URL": f"{url}/pivot",
        "PAYHOOK_PIVOT_MERCHANT_ID": "pivot-test-merchant",
        "PAYHOOK_PIVOT_MERCHANT_SECRET": "pivot-test-secret",
        "PAYHOOK_REVENUE_MONSTER_API_URL": f"{url}/revenue-monster/open",
        "PAYHOOK_REVENUE_MONSTER_OAUTH_URL": f"{url}/revenue-monster/oauth",
        "PAYHOOK_REVENUE_MONSTER_CLIENT_ID": "rm-test-client",
        "PAYHOOK_REVENUE_MONSTER_CLIENT_SECRET": "rm-test-secret",
        "PAYHOOK_REVENUE_MONSTER_PRIVATE_KEY_FILE": str(keys / "revenue-monster-merchant-test-private.pem"),
        "PAYHOOK_MIDTRANS_API_URL": f"{url}/midtrans",
    }


def serve(
    port: int, host: str = "127.0.0.1", settings: Mapping[str, str] | None = None, keys: Path | None = None
) -> None:
    """Serve the stand-in until interrupted. It listens on loopback only: the control API has no
    authentication, and the stand-in must never be mistaken for a provider by anything off this machine."""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the stand-in listens on loopback only, not {host!r}")
    config = StandInConfig.from_env(settings or {}, keys or DEFAULT_KEYS)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
