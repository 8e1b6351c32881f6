"""``make bench``: the receiver, the Celery baseline and the pipeline end to end, with the baselines of the
same run, then the outbox with one endpoint subscribed to everything, printed as one table. Every registered
provider is measured.

python -m scripts.bench [--quick] [--receiver-only] [--reconcile] [--rounds 3] [--seconds 8] [--callbacks 100000]

``--reconcile``: reconciliation on, against the providers' stand-in in a process of its own (every provider's
status API configured, a short schedule so that the workers' reconcile loop asks about the bench's payments
while they flow).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from scripts.bench import data, outbox, pipeline, procs, receiver, standin
from scripts.bench.run import DATABASE, PREFIX, Run, drained, steady
from shared.db.migrate import upgrade
from shared.providers import Provider, all_providers, demo_environment
from shared.providers._standin import NOWHERE, client_settings
from shared.queue import QueueKeys
from shared.settings import Settings
from tests.support.net import free_port


@dataclass
class Results:
    bare: receiver.Figures
    peer: receiver.Figures
    providers: dict[str, receiver.Figures]
    # Per provider, the bare app sent that provider's request (its body: a 2 KB Pivot body costs more to read
    # and queue than a 0.7 KB Midtrans one, whatever the receiver does with it).
    bares: dict[str, receiver.Figures]
    ceiling: float = 0.0
    e2e: float = 0.0
    e2e_worker_rss: float = 0.0
    freshness: tuple[float, float, int] = (0.0, 0.0, 0)
    receiver_memory: tuple[float, float, int] | None = None
    worker_memory: tuple[float, float] | None = None
    outbox_e2e: outbox.Throughput | None = None
    outbox_freshness: outbox.Freshness | None = None


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


def row(name: str, value: str, target: str, verdict: str) -> str:
    return f"| {name} | {value} | {target} | {verdict} |"


def ok(condition: bool) -> str:
    return "met" if condition else "NOT met"


def receivers(
    run: Run,
) -> tuple[receiver.Figures, receiver.Figures, dict[str, receiver.Figures], dict[str, receiver.Figures]]:
    """The bare baseline and the typical peer (sent the first provider's example), then every provider, each
    round of it beside a round of the bare app sent the same request."""
    common = {"rounds": run.args.rounds, "seconds": run.args.seconds, "connections": run.args.connections}
    providers = list(all_providers().values())
    servers = {app: free_port() for app in ("scripts.bench.apps:bare", "scripts.bench.apps:peer", "ingest.app:app")}
    started = [procs.uvicorn(app, port, run.env, run.logs / f"{app[-4:]}.log") for app, port in servers.items()]
    bare_port, peer_port, receiver_port = servers.values()

    def target(name: str, port: int, provider: Provider) -> receiver.Target:
        path, body, headers = run.signed(provider, provider.samples()[provider.example])
        return receiver.Target(name, f"http://127.0.0.1:{port}{path}", body, headers)

    try:
        first = receiver.alternating(
            [target("bare", bare_port, providers[0]), target("peer", peer_port, providers[0])],
            redis=run.redis, cleanup=["payhook-bench-peer"], **common,
        )  # fmt: skip
        figures, bares = {}, {}
        for provider in providers:
            pair = [target("bare", bare_port, provider), target(provider.name, receiver_port, provider)]
            measured = receiver.alternating(pair, redis=run.redis, cleanup=[run.keys.stream], **common)
            bares[provider.name], figures[provider.name] = measured["bare"], measured[provider.name]
    finally:
        for server in started:
            server.stop()
    return first["bare"], first["peer"], figures, bares


def end_to_end(run: Run) -> tuple[float, float]:
    """Callbacks per second from a prefilled stream to committed state; worker RSS afterwards (MB)."""
    items = data.callbacks(run.args.callbacks)
    pipeline.prefill(run.redis, run.keys, items)
    with run.workers("e2e") as worker:
        seconds = drained(run, items)
        return len(items) / seconds, worker.rss_mb(children=True)


def freshness(run: Run) -> tuple[float, float, int]:
    """200 -> committed at a steady 1,000 callbacks/s, with a worker and beat running."""
    run.reset()
    with run.workers("fresh"):
        return steady(run, "fresh")


def worker_memory(run: Run) -> tuple[float, float]:
    """Worker RSS after 100,000 and after 1,000,000 callbacks (MB)."""
    run.reset()
    worker = procs.celery_worker("workers.app", run.args.concurrency, run.env, run.logs / "memory-worker.log")
    beat = procs.celery_beat(run.env, run.logs / "memory-beat.log")
    try:
        fed = 0
        at_100k = None
        while fed < 1_000_000:
            fed += pipeline.prefill(run.redis, run.keys, data.callbacks(100_000, seed=fed, start=20_000_000 + fed))
            pipeline.wait_drained(run.redis, run.keys, timeout=900)
            if at_100k is None:
                at_100k = worker.rss_mb(children=True)
        assert at_100k is not None
        return at_100k, worker.rss_mb(children=True)
    finally:
        worker.stop()
        beat.stop()


def _provider_rows(
    bares: dict[str, receiver.Figures], peer: receiver.Figures, by_provider: dict[str, receiver.Figures]
) -> list[str]:
    rows = []
    for name, measured in by_provider.items():
        provider = all_providers()[name]
        # A key in a header costs next to nothing; a signature over the body costs its cryptography.
        floor = 0.90 if not provider.signature_covers else 0.55
        bare = bares[name]
        of_bare, of_peer = receiver.ratio(measured, bare), measured.rps / peer.rps
        rows.append(
            row(
                f"receiver, {provider.title}",
                f"{measured.rps:,.0f} req/s = {of_bare:.0%} of bare ({bare.rps:,.0f} with this request), "
                f"{of_peer:.1f} x peer, "
                f"p99 {measured.p99_ms:.1f} ms",
                f">= {floor:.0%}, >= 5 x, p99 <= 20 ms",
                ok(of_bare >= floor and of_peer >= 5 and measured.p99_ms <= 20),
            )
        )
    return rows


def report(run: Run, figures: Results) -> None:
    bare, peer, by_provider = figures.bare, figures.peer, figures.providers
    print()
    print(
        f"payhook benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"{run.args.connections} connections, median of {run.args.rounds} x {run.args.seconds:g}s rounds"
    )
    print()
    print("| what | measured | target | verdict |")
    print("| --- | --- | --- | --- |")
    print(
        row(
            "bare baseline (Starlette, read body, 200; the first provider's request)",
            f"{bare.rps:,.0f} req/s, p99 {bare.p99_ms:.1f} ms",
            "-",
            "-",
        )
    )
    print(row("typical peer (json + Celery delay())", f"{peer.rps:,.0f} req/s, p99 {peer.p99_ms:.1f} ms", "-", "-"))
    for line in _provider_rows(figures.bares, peer, by_provider):
        print(line)
    if figures.ceiling:  # not measured with --receiver-only
        _pipeline_rows(run, figures)
    print()
    rounds = ", ".join(f"{name} {f.rounds}" for name, f in {"bare": bare, "peer": peer, **by_provider}.items())
    errors = sum(f.non_2xx for f in (bare, peer, *by_provider.values()))
    print(f"rounds (req/s): {rounds}; non-2xx or socket errors: {errors}")
    if figures.ceiling:
        rss, processes = figures.e2e_worker_rss, run.args.concurrency
        print(f"worker RSS after the end-to-end run: {rss:.0f} MB ({processes} processes)")


def _pipeline_rows(run: Run, figures: Results) -> None:
    ceiling, e2e = figures.ceiling, figures.e2e
    print(row("Celery ceiling (no-op task per callback)", f"{ceiling:,.0f} tasks/s", "-", "-"))
    print(
        row(
            f"end to end, {run.args.callbacks:,} callbacks",
            f"{e2e:,.0f} callbacks/s = {e2e / ceiling:.1f} x ceiling",
            ">= 5,000/s, >= 4 x",
            ok(e2e >= 5000 and e2e / ceiling >= 4),
        )
    )
    p50, p99, measured_count = figures.freshness
    print(
        row(
            "freshness at 1,000/s offered",
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms ({measured_count:,} callbacks)",
            "p99 <= 1 s",
            ok(p99 <= 1.0),
        )
    )
    if figures.outbox_e2e and figures.outbox_freshness:
        lines = outbox.rows(e2e, run.args.callbacks, figures.outbox_e2e, figures.outbox_freshness)
        for name, value, target, met in lines:
            print(row(name, value, target, ok(met)))
    if figures.receiver_memory:
        before, after, sent = figures.receiver_memory
        print(
            row(
                f"receiver RSS after {sent:,} requests",
                f"{before:.0f} MB -> {after:.0f} MB",
                "<= 120 MB",
                ok(after <= 120),
            )
        )
    if figures.worker_memory:
        at100k, at1m = figures.worker_memory
        growth = (at1m - at100k) / at100k
        print(
            row(
                "worker RSS, 100k -> 1M callbacks",
                f"{at100k:.0f} MB -> {at1m:.0f} MB ({growth:+.1%})",
                "<= +10 %",
                ok(growth <= 0.10),
            )
        )


def reconciling(env: dict[str, str], credentials: Path, logs: Path) -> dict[str, str]:
    """The stand-in started (stopped when this process exits) and the settings that point payhook at it."""
    proc, url = standin.launch({**env, "PAYHOOK_LOG_LEVEL": "WARNING"}, credentials, logs / "standin.log")
    atexit.register(proc.stop)
    print(f"bench: reconciliation on, the providers' stand-in at {url}", flush=True)
    return {**client_settings(url, credentials), "PAYHOOK_RECONCILE_SCHEDULE": "5,30,60"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench")
    parser.add_argument("--quick", action="store_true", help="skip the million-request memory runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--callbacks", type=int, default=100_000)
    parser.add_argument("--receiver-only", action="store_true", help="the receiver rows only (bare, peer, providers)")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reconcile", action="store_true", help="reconciliation on, the stand-in answering")
    args = parser.parse_args()
    ensure_wrk()
    logs = Path(tempfile.mkdtemp(prefix="payhook-bench-"))
    credentials = logs / "credentials"
    env = {
        "PAYHOOK_DATABASE_URL": DATABASE,
        "PAYHOOK_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PAYHOOK_QUEUE_PREFIX": PREFIX,
        **demo_environment(credentials),
        # Never a provider's real API: Midtrans's status client points where nothing listens.
        "PAYHOOK_MIDTRANS_API_URL": NOWHERE,
        "PAYHOOK_MIDTRANS_VERIFY": "off",
        # The outbox benchmark's endpoint listens on loopback.
        "PAYHOOK_ENDPOINT_ALLOW_PRIVATE": "true",
    }
    if args.reconcile:
        env.update(reconciling(env, credentials, logs))
    upgrade(Settings.from_env(env))
    keys = QueueKeys(PREFIX)
    signers = {name: p.test_signer(credentials) for name, p in all_providers().items()}
    run = Run(args, env, Redis.from_url(env["PAYHOOK_REDIS_URL"]), keys, logs, signers)
    run.reset()
    print(
        f"bench: {os.cpu_count()} cores; server on core {procs.SERVER_CORE}, wrk on core {procs.LOAD_CORE}; "
        f"logs in {logs}",
        flush=True,
    )
    print("bench: receiver vs bare baseline vs typical peer ...", flush=True)
    figures = Results(*receivers(run))
    run.reset()
    if args.receiver_only:
        report(run, figures)
        return
    print("bench: Celery ceiling (no-op task per callback) ...", flush=True)
    figures.ceiling = pipeline.celery_ceiling(run.redis, env, logs, tasks=20_000, concurrency=args.concurrency)
    print(f"bench: end to end, {args.callbacks:,} queued callbacks ...", flush=True)
    figures.e2e, figures.e2e_worker_rss = end_to_end(run)
    print(f"bench: end to end, {args.callbacks:,} queued callbacks, 1 endpoint subscribed ...", flush=True)
    figures.outbox_e2e = outbox.end_to_end(run)
    print("bench: freshness at a steady 1,000 callbacks/s ...", flush=True)
    figures.freshness = freshness(run)
    print("bench: freshness at a steady 1,000 callbacks/s, 1 endpoint subscribed ...", flush=True)
    figures.outbox_freshness = outbox.freshness(run)
    if not args.quick:
        print("bench: worker memory from 100,000 to 1,000,000 callbacks ...", flush=True)
        figures.worker_memory = worker_memory(run)
        print("bench: receiver memory over 1,000,000 requests ...", flush=True)
        first = next(iter(all_providers().values()))
        path, body, headers = run.signed(first, first.samples()[first.example])
        figures.receiver_memory = receiver.receiver_rss_after(
            1_000_000, path, body, headers, env, logs, run.redis, keys.stream
        )
    run.reset()
    report(run, figures)


if __name__ == "__main__":
    main()
