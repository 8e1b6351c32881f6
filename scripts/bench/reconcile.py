"""``make bench-reconcile``: the reconcile sweep over 100,000 stuck payments, against the providers' stand-in.

A database of its own (``payhook_bench_rec``) holds non-final payments, all due for a query, spread over the
three providers; the stand-in (a process of its own, ``scripts.bench.standin``) holds their truth: 30 % paid
meanwhile, the rest still open. The worker's reconcile loop (``workers.reconcile``, in this process, as one
Celery task runs it) sweeps them at ``PAYHOOK_PROVIDER_API_RATE`` per provider: first with 10,000 payments in
the table, then with 100,000.

Printed: each provider's requests per one-second window as the stand-in counted them (max and mean against the
rate), the database's share of each round (claiming the batch, settling the answers) at 10,000 rows and at
100,000, and the due-payments query's plan (EXPLAIN ANALYZE, BUFFERS) at 100,000.

python -m scripts.bench.reconcile [--payments 100000] [--rate 50] [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import create_engine, text

from scripts.bench import standin
from shared.db.checks import _CLAIM, Due
from shared.db.migrate import upgrade
from shared.providers import demo_environment
from shared.providers._standin import client_settings
from shared.reconcile import runtime
from shared.reconcile.engine import Checked
from shared.settings import Settings
from shared.status_api import Answer
from workers.context import WorkerContext
from workers.reconcile import ReconcileLoop

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_bench_rec"
PROVIDERS = ("pivot", "revenue-monster", "midtrans")
# Every tenth payment of ten: three were paid meanwhile (a lost callback), the others are still open.
PAID_IN_TEN = 3

_SEED = text("""
    INSERT INTO payments (provider, account, payment_key, order_ref, provider_payment_id, status, created_at,
                          updated_at, next_check_at, check_step, check_reason)
    SELECT :provider, 'default', :key || n, :ref || n, :pid || n, 'pending', now() - interval '2 hours',
           now() - interval '2 hours', now() - interval '1 hour' + n * interval '1 millisecond', 0, 'schedule'
    FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS n
""")
# payhook's identities of payment n, by provider: payment_key, order_ref, provider_payment_id prefixes.
_IDS = {"pivot": ("ps-", "PV-", "ps-"), "revenue-monster": ("RM-", "RM-", "rmt-"), "midtrans": ("mt-", "MT-", "mt-")}


def truth(provider: str, n: int) -> dict[str, object]:
    """Payment n as the stand-in holds it (the control API's fields)."""
    paid = n % 10 < PAID_IN_TEN
    if provider == "pivot":
        status = "PAID" if paid else "PROCESSING"
        return {"id": f"ps-{n}", "clientReferenceId": f"PV-{n}", "amount": 10_000 + n, "status": status}
    if provider == "revenue-monster":
        status = "SUCCESS" if paid else "IN_PROCESS"
        return {"transactionId": f"rmt-{n}", "orderId": f"RM-{n}", "amount": 100 + n, "status": status}
    status = "settlement" if paid else "pending"
    return {"transaction_id": f"mt-{n}", "order_id": f"MT-{n}", "gross_amount": 10_000 + n,
            "transaction_status": status}  # fmt: skip


def seed(url: str, low: int, high: int) -> float:
    """Payments ``low``..``high`` (each provider's own), in the stand-in and in the table; seconds taken."""
    started = time.perf_counter()
    engine = create_engine(DATABASE)
    with engine.begin() as conn:
        for provider in PROVIDERS:
            key, ref, pid = _IDS[provider]
            standin.seed(url, provider, [truth(provider, n) for n in range(low, high + 1)])
            conn.execute(_SEED, {"provider": provider, "key": key, "ref": ref, "pid": pid, "low": low, "high": high})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE payments"))
    engine.dispose()
    return time.perf_counter() - started


# Each provider's request starts per one-second window as the limiter granted them (Redis's clock).
GRANTED: dict[str, Counter[int]] = {name: Counter() for name in PROVIDERS}


class CountedLimit(runtime.RateLimit):
    """The limiter, counting the starts it grants: the sender's side of the figures (the stand-in's arrivals
    also carry the delays of a busy machine)."""

    async def wait(self, provider: str) -> float:
        at = await super().wait(provider)
        GRANTED[provider][int(at)] += 1
        return at


class TimedLoop(ReconcileLoop):
    """The worker's loop, with the database's share of each batch timed: claiming it, settling its answers."""

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.claims: list[tuple[int, float]] = []
        self.settles: list[float] = []
        self.cpu_seconds = 0.0

    def _claim(self, provider: str) -> list[Due]:
        started = time.perf_counter()
        due = super()._claim(provider)
        self.claims.append((len(due), (time.perf_counter() - started) * 1000))
        return due

    def _settle(self, answered: list[tuple[Due, Answer]]) -> list[Checked]:
        started = time.perf_counter()
        done = super()._settle(answered)
        self.settles.append((time.perf_counter() - started) * 1000)
        return done


def sweep(settings: Settings, seconds: float) -> tuple[TimedLoop, float, float]:
    """The loop for ``seconds`` (one task after another, as the tick rings it); the loop and its Unix start
    and end."""
    ctx = WorkerContext(settings, os.getpid())
    loop = TimedLoop(ctx)
    started, cpu = time.time(), time.process_time()
    try:
        while time.time() - started < seconds:
            loop.run()
    finally:
        ctx.close()
    loop.cpu_seconds = time.process_time() - cpu
    return loop, started, time.time()


def measured(settings: Settings, seconds: float, standin_pid: int) -> tuple[TimedLoop, float, float]:
    """A sweep, printing the stand-in's CPU meanwhile: a stand-in short of CPU answers late and counts late."""
    before = cpu_seconds(standin_pid)
    loop, started, ended = sweep(settings, seconds)
    print(f"\nthe stand-in's CPU: {(cpu_seconds(standin_pid) - before) / (ended - started):.0%} of one core")
    return loop, started, ended


def rate_figures(windows: Mapping[int, int], started: float, ended: float) -> tuple[int, float, int]:
    """Max and mean requests per whole one-second window inside the sweep (the first two seconds left out:
    the first claim and the tokens), and how many windows."""
    inside = [windows.get(s, 0) for s in range(int(started) + 2, int(ended))]
    return max(inside, default=0), statistics.fmean(inside) if inside else 0.0, len(inside)


def report_phase(name: str, url: str, loop: TimedLoop, started: float, ended: float, rate: int) -> None:
    print(f"\n{name}: {ended - started:.0f} s, results {dict(loop.report)}")
    print(f"{'requests per second':<42} {'max':>5} {'mean':>7} {'mean vs rate':>13} {'windows':>8}")
    arrived = standin.counts(url)
    for provider in PROVIDERS:
        for side, windows in (("arrived at the stand-in", arrived[provider]), ("granted", GRANTED[provider])):
            top, mean, count = rate_figures(windows, started, ended)
            print(f"{provider + ', ' + side:<36} {top:>5} {mean:>7.1f} {mean / rate - 1:>+12.1%} {count:>8}")
    queries = sum(loop.report.values())
    # The loop's own CPU (every thread of this process): what the rate costs, and whether a busy machine left it
    # enough to keep up.
    print(f"loop CPU: {loop.cpu_seconds:.1f} s, {loop.cpu_seconds / max(queries, 1) * 1000:.1f} s per 1,000 queries, "
          f"{loop.cpu_seconds / (ended - started):.0%} of one core")  # fmt: skip
    batches = [ms for rows, ms in loop.claims if rows]
    print(f"batches {len(batches)}, {statistics.fmean(rows for rows, _ in loop.claims if rows):.0f} payments each")
    for what, figures in (("claim", sorted(batches)), ("settle", sorted(loop.settles))):
        print(f"{what:<6} ms median {statistics.median(figures):7.1f}  p95 {figures[int(len(figures) * 0.95)]:7.1f}")


def explain(limit: int) -> None:
    """The due-payments query's plan at this size, as the loop runs it (the claim, rolled back)."""
    engine = create_engine(DATABASE)
    with engine.connect() as conn:
        plan = conn.execute(
            text("EXPLAIN (ANALYZE, BUFFERS) " + str(_CLAIM)), {"provider": "pivot", "limit": limit, "lease": 60}
        ).scalars()
        print("\nEXPLAIN (ANALYZE, BUFFERS) of the claim (rolled back):")
        for line in plan:
            print(f"  {line}")
        conn.rollback()
    engine.dispose()


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def environment(url: str, keys: Path, rate: int, seconds: float) -> dict[str, str]:
    return {
        "PAYHOOK_DATABASE_URL": DATABASE,
        "PAYHOOK_REDIS_URL": os.environ.get("PAYHOOK_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "PAYHOOK_QUEUE_PREFIX": f"payhook-bench-rec-{secrets.token_hex(4)}",
        **demo_environment(keys),
        **client_settings(url, keys),
        "PAYHOOK_PROVIDER_API_RATE": str(rate),
        # Nothing asked about comes back within the run: every query is a payment swept for the first time.
        "PAYHOOK_RECONCILE_SCHEDULE": "3600,3600",
        "PAYHOOK_DRAIN_BUDGET_SECONDS": str(seconds),
        "PAYHOOK_LOG_LEVEL": "WARNING",
    }


def main() -> None:
    runtime.RateLimit = CountedLimit  # type: ignore[misc]  # the runtime makes its limiter when it opens
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.reconcile")
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=50, help="PAYHOOK_PROVIDER_API_RATE, per provider")
    parser.add_argument("--seconds", type=float, default=90, help="each sweep's length")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="payhook-bench-rec-"))
    keys = folder / "keys"
    env = {**demo_environment(keys), "PAYHOOK_LOG_LEVEL": "WARNING"}
    proc, url = standin.launch(env, keys, folder / "standin.log")
    try:
        settings = Settings.from_env(environment(url, keys, args.rate, args.seconds))
        upgrade(settings)
        engine = create_engine(DATABASE)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE payments RESTART IDENTITY CASCADE"))
        engine.dispose()
        per_provider = [args.small // 3, args.payments // 3]
        print(f"reconcile: load {load()}; rate {args.rate}/s per provider; seeding {per_provider[0] * 3:,}", flush=True)
        print(f"reconcile: seeded in {seed(url, 1, per_provider[0]):.0f} s", flush=True)
        loop, started, ended = measured(settings, args.seconds, proc.popen.pid)
        report_phase(f"{per_provider[0] * 3:,} payments in the table", url, loop, started, ended, args.rate)
        print(f"\nreconcile: seeding up to {per_provider[1] * 3:,}", flush=True)
        print(f"reconcile: seeded in {seed(url, per_provider[0] + 1, per_provider[1]):.0f} s", flush=True)
        explain(args.rate * 2)
        loop, started, ended = measured(settings, args.seconds, proc.popen.pid)
        report_phase(f"{per_provider[1] * 3:,} payments in the table", url, loop, started, ended, args.rate)
        print(f"\nreconcile: load {load()}")
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
