"""``payhook simulate``: the providers' stand-in on a local port (``shared.providers._standin``): their token
and status endpoints, a control API to set payments' statuses, and their callbacks, signed as each provider
signs them, sent on request (lost, copied, held and reordered, late)."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import click

from shared.ops.cli.support import fail, reports_failures

SIMULATE_PORT = 8099
# Where the banner's callbacks go: payhook's receiver as ``payhook dev`` serves it.
CALLBACKS_URL = "http://127.0.0.1:8000/callbacks"


def usage(url: str, keys: Path) -> Iterator[str]:
    """How to use it: the settings that point payhook at it, and a round of the control API."""
    from shared.providers._standin import client_settings  # noqa: PLC0415 - only this command needs it
    from shared.providers._standin.examples import examples  # noqa: PLC0415

    yield f"payhook simulate: the providers' stand-in at {url}  (Ctrl-C stops)"
    yield "point payhook's status clients at it:"
    for name, value in sorted(client_settings(url, keys).items()):
        yield f"  {name}={value}"
    yield "set a payment's status, then send its callback to payhook (or any loopback URL): each provider's example"
    for example in examples():
        payment = json.dumps(example.fields, separators=(", ", ": "))
        yield f"  curl -s -X PUT {url}/_sim/{example.provider}/payments -d {shlex.quote(payment)}"
        send = json.dumps({"url": f"{CALLBACKS_URL}/{example.provider}", "copies": 2, "delay_ms": 500})
        callback = f"{url}/_sim/{example.provider}/payments/{quote(example.key, safe='')}/callback"
        yield f"  curl -s -X POST {shlex.quote(callback)} -d {shlex.quote(send)}"
    yield '  (also "drop": true, "hold": true then POST /_sim/callbacks/release {"order": "shuffle"};'
    yield "   PUT /_sim/faults, POST /_sim/clock, GET /_sim/requests: see shared/providers/_standin/control.py)"


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=SIMULATE_PORT, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path(".payhook"),
    show_default=True,
    help="where the throwaway keys are kept (payhook dev's data folder)",
)
@reports_failures
def simulate(port: int, data_dir: Path) -> None:
    """Serve a stand-in of the three providers' status APIs and callbacks on 127.0.0.1 (development, tests)."""
    from shared.ops.dev.embedded import port_free  # noqa: PLC0415
    from shared.providers._standin import serve  # noqa: PLC0415

    if not port_free(port):
        fail(f"port {port}, for the providers' stand-in, is taken: stop what uses it or choose another with --port")
    keys = data_dir / "keys"
    for line in usage(f"http://127.0.0.1:{port}", keys):
        click.echo(line)
    serve(port, settings=os.environ, keys=keys)
