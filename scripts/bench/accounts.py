"""``make bench-accounts``: the receiver with 10,000 merchant accounts configured.

Round by round in one run (this machine is shared and noisy), each round of every case beside a round of the
bare baseline sent the same request: the Pivot receiver on its default route with no stored account, then,
with 10,000 accounts stored, one web process on its default route and on an account's route; the web
process's resident memory with none and with 10,000; how long a new account takes to reach a running web
process.

python -m scripts.bench.accounts [--accounts 10000] [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from redis import Redis
from sqlalchemy import create_engine, text

from scripts.bench import procs, receiver
from scripts.bench.__main__ import ensure_wrk
from shared.accounts import shown
from shared.db.migrate import upgrade
from shared.providers import all_providers, demo_environment
from shared.providers._standin import NOWHERE
from shared.settings import Settings
from tests.support.net import free_port

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_bench_accounts"
PREFIX = "payhook-bench-accounts"
KEY = "bench-account-key"


def fill(count: int) -> None:
    """``count`` Pivot accounts, ``acct-0`` ... (each its own callback key), straight into the table."""
    pivot = all_providers()["pivot"]
    engine = create_engine(DATABASE)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE accounts"))
        rows = []
        for i in range(count):
            settings = {"PAYHOOK_PIVOT_CALLBACK_KEY": f"{KEY}-{i}"}
            rows.append(
                {
                    "name": f"acct-{i}",
                    "settings": orjson.dumps(settings),
                    "fp": orjson.dumps(shown(pivot, settings)).decode(),
                }
            )
        if not rows:
            return
        conn.execute(
            text(
                "INSERT INTO accounts (provider, name, settings, fingerprints)"
                " VALUES ('pivot', :name, :settings, CAST(:fp AS jsonb))"
            ),
            rows,
        )
    engine.dispose()


def target(name: str, port: int, path: str, key: str) -> receiver.Target:
    """The Pivot example sent to the server on ``port`` (the bare baseline gets the very same request)."""
    body = all_providers()["pivot"].samples()["payment_paid"]
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    return receiver.Target(name, f"http://127.0.0.1:{port}{path}", body, headers)


def resident(env: dict[str, str], logs: Path, name: str) -> float:
    port = free_port()
    server = procs.uvicorn("ingest.app:app", port, env, logs / f"rss-{name}.log")
    try:
        time.sleep(2)
        return server.rss_mb()
    finally:
        server.stop()


def propagation(env: dict[str, str], logs: Path, redis: Redis) -> float:
    """Seconds from a new account's commit (and its version bump) to the first 200 on its route."""
    port = free_port()
    server = procs.uvicorn("ingest.app:app", port, env, logs / "propagation.log")
    body = all_providers()["pivot"].samples()["payment_paid"]
    try:
        engine = create_engine(DATABASE)
        with engine.begin() as conn:
            settings = orjson.dumps({"PAYHOOK_PIVOT_CALLBACK_KEY": "late-key"})
            conn.execute(
                text(
                    "INSERT INTO accounts (provider, name, settings, fingerprints) VALUES ('pivot', 'late', :s, '{}')"
                ),
                {"s": settings},
            )
        engine.dispose()
        redis.incr(f"{PREFIX}:accounts-version")
        started = time.monotonic()
        while time.monotonic() - started < 30:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/callbacks/pivot/late", content=body, headers={"X-API-Key": "late-key"}
            )
            if answer.status_code == 200:
                return time.monotonic() - started
            time.sleep(0.02)
        return float("nan")
    finally:
        server.stop()


def beside_bare(
    bare: receiver.Target, routes: list[tuple[str, str, str]], env: dict[str, str], logs: Path, common: dict[str, Any]
) -> dict[str, receiver.Figures]:
    """A fresh web process (it loads the accounts stored now), each of its ``routes`` (name, path, key) round by
    round beside the bare app."""
    port = free_port()
    server = procs.uvicorn("ingest.app:app", port, env, logs / f"{routes[0][0]}.log")
    try:
        targets = [bare, *(target(name, port, path, key) for name, path, key in routes)]
        return receiver.alternating(targets, cleanup=[f"{PREFIX}:callbacks"], **common)
    finally:
        server.stop()


def report(
    args: argparse.Namespace,
    first: dict[str, receiver.Figures],
    second: dict[str, receiver.Figures],
    rss: tuple[float, float],
    seconds: float,
) -> None:
    medians = f"medians of {args.rounds} x {args.seconds:g} s, 64 connections"
    print(f"\nReceiver with {args.accounts:,} Pivot accounts ({medians})")
    print("| what | req/s | of bare (same rounds) | p99 ms |\n| --- | --- | --- | --- |")
    rows = (
        ("bare baseline (beside the next row)", first["bare"], first["bare"]),
        ("Pivot, default route, no accounts", first["none"], first["bare"]),
        ("bare baseline (beside the next rows)", second["bare"], second["bare"]),
        (f"Pivot, default route, {args.accounts:,} accounts", second["default"], second["bare"]),
        (f"Pivot, account route, {args.accounts:,} accounts", second["account"], second["bare"]),
    )
    for name, figures, bare in rows:
        print(f"| {name} | {figures.rps:,.0f} | {receiver.ratio(figures, bare):.1%} | {figures.p99_ms:.1f} |")
    print(f"account route / default route: {receiver.ratio(second['account'], second['default']):.1%}")
    none, many = rss
    print(f"web RSS: {none:.0f} MB with no accounts, {many:.0f} MB with {args.accounts:,} (+{many - none:.0f} MB)")
    print(f"a new account answered 200 on a running web process {seconds:.2f} s after its version bump")
    for name, figures in second.items():
        print(f"rounds (req/s), {name}: {', '.join(f'{r:,.0f}' for r in figures.rounds)}")
    failed = sum(figures.non_2xx for figures in (*first.values(), *second.values()))
    if failed:
        print(f"WARNING: {failed:,} requests were not answered 2xx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    ensure_wrk()
    logs = Path(tempfile.mkdtemp(prefix="payhook-bench-accounts-"))
    env = {
        "PAYHOOK_DATABASE_URL": DATABASE, "PAYHOOK_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PAYHOOK_QUEUE_PREFIX": PREFIX, **demo_environment(logs / "keys"), "PAYHOOK_MIDTRANS_API_URL": NOWHERE,
        "PAYHOOK_MIDTRANS_VERIFY": "off",
    }  # fmt: skip
    upgrade(Settings.from_env(env))
    redis = Redis.from_url(env["PAYHOOK_REDIS_URL"])
    default_key = all_providers()["pivot"].test_signer(logs / "keys").secret
    common = {"rounds": args.rounds, "seconds": args.seconds, "connections": 64, "redis": redis}
    bare_port = free_port()
    bare_server = procs.uvicorn("scripts.bench.apps:bare", bare_port, env, logs / "bare.log")
    bare = target("bare", bare_port, "/callbacks/pivot", default_key)
    last = args.accounts - 1
    try:
        fill(0)
        rss_none = resident(env, logs, "none")
        first = beside_bare(bare, [("none", "/callbacks/pivot", default_key)], env, logs, common)
        fill(args.accounts)
        rss_many = resident(env, logs, "many")
        account = ("account", f"/callbacks/pivot/acct-{last}", f"{KEY}-{last}")
        routes = [("default", "/callbacks/pivot", default_key), account]
        second = beside_bare(bare, routes, env, logs, common)
    finally:
        bare_server.stop()
    report(args, first, second, (rss_none, rss_many), propagation(env, logs, redis))
    fill(0)


if __name__ == "__main__":
    main()
