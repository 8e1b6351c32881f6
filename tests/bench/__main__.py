"""``make bench``: every figure of issue 3 with the baselines of the same run, printed as one table.

python -m tests.bench [--quick] [--rounds 3] [--seconds 8] [--callbacks 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shared.db.migrate import upgrade
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.bench import data, pipeline, procs, receiver
from tests.support import KEYS, PIVOT_KEY, fixture_private_key, free_port, rm_headers, sample

PREFIX = "payhook-bench"
DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_bench"


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("bench: wrk is missing; install it with: sudo apt-get install wrk")
    print("bench: installing wrk from Debian's packages", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    )


def environment(**extra: str) -> dict[str, str]:
    return {
        "PAYHOOK_DATABASE_URL": DATABASE,
        "PAYHOOK_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PAYHOOK_QUEUE_PREFIX": PREFIX,
        "PAYHOOK_PIVOT_CALLBACK_KEY": PIVOT_KEY,
        "PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY_FILE": str(KEYS / "revenue-monster-test-public.pem"),
        **extra,
    }


def reset(redis: Redis, keys: QueueKeys) -> None:
    for key in redis.scan_iter(f"{PREFIX}:*"):
        redis.delete(key)
    redis.delete(PREFIX)
    engine = create_engine(DATABASE)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE payment_events, payments, dead_letters RESTART IDENTITY"))
    engine.dispose()


def row(name: str, value: str, target: str, verdict: str) -> str:
    return f"| {name} | {value} | {target} | {verdict} |"


def ok(condition: bool) -> str:
    return "met" if condition else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--quick", action="store_true", help="skip the million-request memory runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--callbacks", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    ensure_wrk()
    env = environment()
    settings = Settings.from_env(env)
    upgrade(settings)
    redis = Redis.from_url(settings.redis_url)
    keys = QueueKeys(PREFIX)
    logs = Path(tempfile.mkdtemp(prefix="payhook-bench-"))
    reset(redis, keys)
    print(
        f"bench: {os.cpu_count()} cores; server on core {procs.SERVER_CORE}, wrk on core {procs.LOAD_CORE}; "
        f"logs in {logs}",
        flush=True,
    )

    pivot_body = sample("pivot.payment_paid")
    rm_body = sample("revenue-monster.payment_web_online")
    pivot_headers = {"X-API-Key": PIVOT_KEY, "Content-Type": "application/json"}
    rm_hdrs = rm_headers(rm_body, fixture_private_key())
    common = {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections, "redis": redis}

    print("bench: receiver vs bare baseline vs typical peer ...", flush=True)
    bare = receiver.measure(
        "tests.bench.apps:bare", "/callbacks/pivot", pivot_body, pivot_headers, env, logs, cleanup=[], **common
    )
    peer = receiver.measure(
        "tests.bench.apps:peer",
        "/callbacks/pivot",
        pivot_body,
        pivot_headers,
        env,
        logs,
        cleanup=["payhook-bench-peer"],
        **common,
    )
    pivot = receiver.measure(
        "ingest.app:app", "/callbacks/pivot", pivot_body, pivot_headers, env, logs, cleanup=[keys.stream], **common
    )
    rm = receiver.measure(
        "ingest.app:app", "/callbacks/revenue-monster", rm_body, rm_hdrs, env, logs, cleanup=[keys.stream], **common
    )
    reset(redis, keys)

    print("bench: Celery ceiling (no-op task per callback) ...", flush=True)
    ceiling = pipeline.celery_ceiling(redis, env, logs, tasks=20_000, concurrency=args.concurrency)

    print(f"bench: end to end, {args.callbacks:,} queued callbacks ...", flush=True)
    items = data.callbacks(args.callbacks)
    pipeline.prefill(redis, keys, items)
    worker = procs.celery_worker("workers.app", args.concurrency, env, logs / "e2e-worker.log")
    beat = procs.celery_beat(env, logs / "e2e-beat.log")
    try:
        seconds, _ = pipeline.wait_drained(redis, keys, timeout=900)
        e2e = args.callbacks / seconds
        engine = create_engine(DATABASE)
        with engine.connect() as conn:
            events = conn.execute(text("SELECT count(*) FROM payment_events")).scalar_one()
            dead = conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one()
        engine.dispose()
        if events != args.callbacks or dead:
            raise RuntimeError(f"end to end recorded {events} events and {dead} dead letters for {args.callbacks}")
        worker_rss_100k = worker.rss_mb(children=True)

        print("bench: freshness at a steady 1,000 callbacks/s ...", flush=True)
        reset(redis, keys)
        port = free_port()
        web = procs.uvicorn("ingest.app:app", port, env, logs / "fresh-web.log")
        try:
            bodies = [
                body for _, body, _ in data.callbacks(15_000, duplicates=0.0, start=10_000_000) if b'"event"' in body
            ]
            libpq = make_url(DATABASE).set(drivername="postgresql").render_as_string(hide_password=False)
            p50, p99, measured = pipeline.freshness(port, bodies[:15_000], PIVOT_KEY, libpq, rate=1000.0)
        finally:
            web.stop()

        worker_growth = None
        receiver_mem = None
        if not args.quick:
            print("bench: worker memory from 100,000 to 1,000,000 callbacks ...", flush=True)
            reset(redis, keys)
            fed = 0
            rss_at_100k = None
            while fed < 1_000_000:
                fed += pipeline.prefill(redis, keys, data.callbacks(100_000, seed=fed, start=20_000_000 + fed))
                pipeline.wait_drained(redis, keys, timeout=900)
                if rss_at_100k is None:
                    rss_at_100k = worker.rss_mb(children=True)
            assert rss_at_100k is not None
            worker_growth = (rss_at_100k, worker.rss_mb(children=True))
            reset(redis, keys)
    finally:
        worker.stop()
        beat.stop()

    if not args.quick:
        print("bench: receiver memory over 1,000,000 requests ...", flush=True)
        test_body = sample("pivot.payment_test")
        receiver_mem = receiver.receiver_rss_after(1_000_000, test_body, pivot_headers, env, logs, redis, keys.stream)
    reset(redis, keys)

    print()
    print(
        f"payhook benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"{args.connections} connections, "
        f"median of {args.rounds} x {args.seconds:g}s rounds"
    )
    print()
    print("| what | measured | target | verdict |")
    print("| --- | --- | --- | --- |")
    print(
        row("bare baseline (Starlette, read body, 200)", f"{bare.rps:,.0f} req/s, p99 {bare.p99_ms:.1f} ms", "-", "-")
    )
    print(row("typical peer (json + Celery delay())", f"{peer.rps:,.0f} req/s, p99 {peer.p99_ms:.1f} ms", "-", "-"))
    pr, pp = pivot.rps / bare.rps, pivot.rps / peer.rps
    print(
        row(
            "receiver, Pivot (key check)",
            f"{pivot.rps:,.0f} req/s = {pr:.0%} of bare, {pp:.1f} x peer",
            ">= 70 %, >= 5 x",
            ok(pr >= 0.70 and pp >= 5),
        )
    )
    rr, rp = rm.rps / bare.rps, rm.rps / peer.rps
    print(
        row(
            "receiver, Revenue Monster (RSA)",
            f"{rm.rps:,.0f} req/s = {rr:.0%} of bare, {rp:.1f} x peer",
            ">= 55 %, >= 5 x",
            ok(rr >= 0.55 and rp >= 5),
        )
    )
    worst = max(pivot.p99_ms, rm.p99_ms)
    print(
        row(
            "receiver p99 at 64 connections",
            f"Pivot {pivot.p99_ms:.1f} ms, RM {rm.p99_ms:.1f} ms",
            "<= 20 ms",
            ok(worst <= 20),
        )
    )
    print(row("Celery ceiling (no-op task per callback)", f"{ceiling:,.0f} tasks/s", "-", "-"))
    print(
        row(
            f"end to end, {args.callbacks:,} callbacks",
            f"{e2e:,.0f} callbacks/s = {e2e / ceiling:.1f} x ceiling",
            ">= 5,000/s, >= 4 x",
            ok(e2e >= 5000 and e2e / ceiling >= 4),
        )
    )
    print(
        row(
            "freshness at 1,000/s offered",
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms ({measured:,} callbacks)",
            "p99 <= 1 s",
            ok(p99 <= 1.0),
        )
    )
    if receiver_mem:
        before, after, sent = receiver_mem
        print(
            row(
                f"receiver RSS after {sent:,} requests",
                f"{before:.0f} MB -> {after:.0f} MB",
                "<= 120 MB",
                ok(after <= 120),
            )
        )
    if worker_growth:
        at100k, at1m = worker_growth
        growth = (at1m - at100k) / at100k
        print(
            row(
                "worker RSS, 100k -> 1M callbacks",
                f"{at100k:.0f} MB -> {at1m:.0f} MB ({growth:+.1%})",
                "<= +10 %",
                ok(growth <= 0.10),
            )
        )
    non_2xx = bare.non_2xx + peer.non_2xx + pivot.non_2xx + rm.non_2xx
    print()
    print(
        f"rounds (req/s): bare {bare.rounds}, peer {peer.rounds}, pivot {pivot.rounds}, rm {rm.rounds}; "
        f"non-2xx or socket errors: {non_2xx}"
    )
    print(f"worker RSS after the end-to-end run: {worker_rss_100k:.0f} MB ({args.concurrency} pool processes)")


if __name__ == "__main__":
    main()
