"""Instructions per request, counted rather than timed: on a shared, noisy machine wall time says more about
the neighbours than about the code.

Each case runs in its own process under valgrind's callgrind, with counting off until the measured requests
(imports, building the app and a warm-up cost nothing). The requests go through uvicorn's own HTTP protocol in
that process (``scripts.bench.inprocess``), 64 keep-alive connections a round as wrk sends them, with the
receiver's appends going to the real Redis. The cases:

- ``bare``: the bare baseline of ``make bench`` (Starlette, read the body, 200);
- ``default``: the receiver, ``POST /callbacks/pivot`` (the default account), no stored accounts;
- ``default-accounts``: the same with ``--accounts`` accounts in the routing table;
- ``account``: the last of those accounts, on its own route ``/callbacks/pivot/acct-N``.

The kernel's share of a request (its socket) is the same for every case and is not counted, so the ratio of
instructions understates the ratio of requests per second a little; what it shows, without noise, is what each
request costs above bare, and where that grew (``--calls`` lists the Python calls per request).

python -m scripts.bench.instructions [--requests 6400] [--accounts 10000] [--calls] [CASE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from redis import Redis
from starlette.types import ASGIApp

from ingest.accounts import routes
from ingest.server import create_app
from scripts.bench.apps import bare
from scripts.bench.inprocess import Driver, request_bytes
from shared.accounts import Account
from shared.connections import receiver_redis
from shared.providers import all_providers, demo_environment, load_providers
from shared.providers._standin import NOWHERE
from shared.queue import QueueKeys
from shared.settings import Settings

CASES = ("bare", "default", "default-accounts", "account")
PREFIX = "payhook-bench-instructions"
KEY = "bench-account-key"
CONNECTIONS = 64
WARM_UP_ROUNDS = 8


def environment(folder: Path) -> dict[str, str]:
    return {
        "PAYHOOK_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_bench_instructions",
        "PAYHOOK_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PAYHOOK_QUEUE_PREFIX": PREFIX,
        **demo_environment(folder),
        "PAYHOOK_MIDTRANS_API_URL": NOWHERE,
        "PAYHOOK_MIDTRANS_VERIFY": "off",
        # Under valgrind everything is many times slower: an append must not time out into the spool (whose
        # availability check stays on the path), nor a request into a 408.
        "PAYHOOK_APPEND_TIMEOUT_SECONDS": "60",
        "PAYHOOK_REQUEST_TIMEOUT_SECONDS": "60",
    }


def build(case: str, env: dict[str, str], accounts: int, folder: Path) -> tuple[ASGIApp, bytes]:
    """The app of ``case`` and the request it is sent (Pivot's example callback, with its key)."""
    body = all_providers()["pivot"].samples()["payment_paid"]
    key = all_providers()["pivot"].test_signer(folder).secret
    path = "/callbacks/pivot"
    if case == "bare":
        return bare, request_bytes(path, body, {"X-API-Key": key, "Content-Type": "application/json"})
    # No doorbell: ringing it is a broker round trip every few seconds in a thread, not a per-request cost.
    # The receiver's own Redis client but for its timeouts, which valgrind's first pass over the code overruns.
    settings = Settings.from_env(env)
    redis = receiver_redis(settings, connect_timeout=60, io_timeout=60)
    app = create_app(settings, redis, ring=False)
    if case != "default":
        stored = [
            Account("pivot", f"acct-{i}", settings={"PAYHOOK_PIVOT_CALLBACK_KEY": f"{KEY}-{i}"})
            for i in range(accounts)
        ]
        app.callbacks.install(routes(load_providers(env), stored, env))
        if case == "account":
            path, key = f"/callbacks/pivot/acct-{accounts - 1}", f"{KEY}-{accounts - 1}"
    return app, request_bytes(path, body, {"X-API-Key": key, "Content-Type": "application/json"})


def _callgrind(*command: str) -> None:
    subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True, capture_output=True)


def counted(run: Callable[[], int], out: Path) -> tuple[int, int]:
    """Instructions of ``run`` (the toggling's own cost taken off) and the requests it answered."""
    _callgrind("-i", "on")
    _callgrind("-i", "off")
    _callgrind("-d", "idle")
    _callgrind("-i", "on")
    requests = run()
    _callgrind("-i", "off")
    _callgrind("-d", "measured")
    idle, measured = (_total(Path(f"{out}.{part}")) for part in (1, 2))
    return measured - idle, requests


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no total in {dump}")


def child(args: argparse.Namespace) -> None:
    """One case, in this process (under callgrind, or profiled with ``--calls``)."""
    folder = Path(tempfile.mkdtemp(prefix="payhook-instructions-"))
    env = environment(folder)
    os.environ.update(env)  # the protocol reads its request deadline from the environment
    redis = Redis.from_url(env["PAYHOOK_REDIS_URL"])
    stream = QueueKeys(PREFIX).stream
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    app, request = build(args.child, env, args.accounts, folder)
    # What the receiver's lifespan does once its app is built (the lifespan itself is not run: its watches
    # would add work by the clock, not by the request); bare too, so that the collector's share is alike.
    gc.collect()
    gc.freeze()
    driver = Driver(app, request, CONNECTIONS)
    rounds = max(1, args.requests // CONNECTIONS)
    try:
        loop.run_until_complete(driver.rounds(WARM_UP_ROUNDS))

        def run() -> int:
            return loop.run_until_complete(driver.rounds(rounds))

        if args.calls:
            print(json.dumps({"case": args.child, "calls": profiled(run, args.top)}))
        else:
            instructions, requests = counted(run, Path(args.out))
            print(json.dumps({"case": args.child, "instructions": instructions, "requests": requests}))
    finally:
        redis.delete(stream)


def profiled(run: Callable[[], int], top: int) -> list[tuple[str, float, float]]:
    """The Python functions called per request: (function, calls, own share of the profiled time)."""
    profile = cProfile.Profile()
    requests = profile.runcall(run)
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(tottime for _, _, tottime, _, _ in stats.values()) or 1.0
    rows = [
        (f"{Path(file).name}:{line}({name})", calls / requests, tottime / total)
        for (file, line, name), (_, calls, tottime, _, _) in stats.items()
    ]
    return sorted(rows, key=lambda r: -r[1])[:top]


def measure(case: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    """Runs ``case`` in a child process (under callgrind unless ``--calls``) and reads its figures."""
    out = logs / f"{case}.callgrind"
    command = [sys.executable, "-m", "scripts.bench.instructions", "--child", case, "--out", str(out)]
    command += ["--requests", str(args.requests), "--accounts", str(args.accounts), "--top", str(args.top)]
    if args.calls:
        command.append("--calls")
    else:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    (logs / f"{case}.log").write_text(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed ({done.returncode}); see {logs / f'{case}.log'}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if args.calls:
        for result in results:
            print(f"\n{result['case']}: Python calls per request (top {args.top}), share of profiled time")
            for name, calls, share in result["calls"]:
                print(f"  {calls:8.2f}  {share:6.1%}  {name}")
        return
    per = {r["case"]: r["instructions"] / r["requests"] for r in results}
    bare = per.get("bare")
    print(f"\nInstructions per request (callgrind, {args.requests:,} requests, {CONNECTIONS} connections a round)")
    print("| case | instructions | above bare | bare / case |\n| --- | --- | --- | --- |")
    for case, count in per.items():
        above = f"{count - bare:,.0f}" if bare else "-"
        ratio = f"{bare / count:.1%}" if bare else "-"
        print(f"| {case} | {count:,.0f} | {above} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", default=list(CASES), metavar="CASE", help=", ".join(CASES))
    parser.add_argument("--requests", type=int, default=6400)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--calls", action="store_true", help="Python calls per request (cProfile), no valgrind")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"no case {', '.join(unknown)}; the cases are {', '.join(CASES)}")
    if not args.calls and not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        sys.exit("instructions: valgrind is missing; install it with: sudo apt-get install valgrind")
    logs = Path(tempfile.mkdtemp(prefix="payhook-instructions-"))
    print(f"instructions: cases {', '.join(args.cases)}; logs in {logs}", flush=True)
    report([measure(case, args, logs) for case in args.cases], args)


if __name__ == "__main__":
    main()
