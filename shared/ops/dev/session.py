"""One ``payhook dev`` session: start the stack, print what the developer needs, wait for a stop signal
(Ctrl-C, SIGTERM, a closed terminal) or a child's failure, then stop everything."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from shared.ops.dev.envfile import BESIDE
from shared.ops.dev.lifetime import STOP_SIGNALS
from shared.ops.dev.stack import DevStack, Ports, StartInterrupted
from shared.providers import all_providers

# What payhook dev writes (the env file, the demo keys, the logs, the examples) is its owner's alone.
UMASK = 0o077


def banner(stack: DevStack, env: Mapping[str, str]) -> Iterator[str]:
    """What the developer needs: the URLs, the settings, a ready-to-paste curl per provider."""
    url = f"http://127.0.0.1:{stack.ports.web}"
    yield f"payhook dev: serving {url}  (data in {stack.data}, logs in {stack.data / 'logs'}; Ctrl-C stops)"
    yield f"console: {url}/console  (sign in with PAYHOOK_ADMIN_TOKEN below)"
    yield f"worker metrics: http://127.0.0.1:{stack.ports.metrics}/metrics"
    yield f"providers' stand-in: {stack.simulate_url}  (payhook simulate; its control API under /_sim)"
    yield ""
    yield "settings (throwaway demo credentials, kept in the data folder):"
    shown = {k: v for k, v in env.items() if k.startswith("PAYHOOK_") and "\n" not in v}
    for name, value in sorted(shown.items()):
        yield f"  {name}={value}"
    for name in sorted(k for k, v in env.items() if k.startswith("PAYHOOK_") and "\n" in v):
        yield f"  {name}=(the public key of the throwaway key pair in {stack.keys})"
    yield ""
    written = stack.data / "env"
    if written == BESIDE.resolve():
        yield f"the payhook command run in {Path.cwd()} uses this stack (its settings are in {written}); elsewhere:"
    else:
        yield f"to use the payhook command against this stack (its settings are in {written}):"
    yield f"  set -a; . {shlex.quote(str(written))}; set +a"
    yield ""
    yield "send each provider's example callback:"
    # A payhook command finds the settings by itself only beside the default data folder; with another, the
    # line loads them (in a subshell) so that it still works pasted as it is.
    loads = "" if written == BESIDE.resolve() else f"set -a; . {shlex.quote(str(written))}; set +a; "
    yield from _examples(stack, url, loads)


def _examples(stack: DevStack, url: str, loads: str = "") -> Iterator[str]:
    examples = stack.data / "examples"
    examples.mkdir(exist_ok=True)
    for provider in all_providers().values():
        signer = provider.test_signer(stack.keys)
        body, headers = signer.sign(provider.samples()[provider.example])
        path = examples / f"{provider.name}.json"
        path.write_bytes(body)
        event = provider.normalize(body)
        parts = ["curl", "-s", f"{url}/callbacks/{provider.name}"]
        for name, value in headers.items():
            parts += ["-H", f"{name}: {value}"]
        yield f"  {shlex.join([*parts, '--data-binary', f'@{path}'])}"
        if event is not None and event.order_ref:
            show = f"{payhook_command()} payments show {provider.name} {shlex.quote(event.order_ref)}"
            yield f"  ({loads}{show})" if loads else f"  {show}"


def payhook_command() -> str:
    """The payhook command as this shell can paste it: ``payhook`` when that is the one on the PATH, else the
    virtual environment's (``.venv/bin/payhook`` after ``make run``, which does not activate the venv)."""
    here = Path(sys.executable).parent / "payhook"
    found = shutil.which("payhook")
    if found is not None and Path(found).resolve() == here.resolve():
        return "payhook"
    try:
        return shlex.quote(str(here.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(here))


def run(data: Path, ports: Ports) -> int:
    stack = DevStack(data.resolve(), ports)
    started = False

    def on_signal(signum: int, _frame: object) -> None:
        stack.stop_requested = True
        if not started:
            # Stop now, not after a minute of starting: the stack stops what it has recorded, and a child
            # started but not yet recorded stops with this process (``lifetime``). Should this exception be
            # swallowed (see ``DevStack.stop_requested``), the start's next step stops instead.
            raise StartInterrupted

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    umask = os.umask(UMASK)
    try:
        env = stack.start()
        started = True
        for line in banner(stack, env):
            print(line, flush=True)
        while not stack.stop_requested:
            failed = stack.failed()
            if failed:
                print(f"payhook dev: {failed} exited; stopping (see {stack.data / 'logs'})", file=sys.stderr)
                return 1
            time.sleep(0.2)
        # After SIGHUP the terminal may be gone: the stop must not depend on saying so.
        with contextlib.suppress(OSError):
            print("payhook dev: stopping", flush=True)
        return 0
    except StartInterrupted:
        return 0
    finally:
        started = True  # a second signal must not cut the stop short
        stack.stop()
        os.umask(umask)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
