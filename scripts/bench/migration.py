"""``make bench-migration``: migration 0013 (accounts) on a million payments, while payments keep being written.

Fills a database of its own (``payhook_migration_bench``) at revision 0012, the schema before accounts: a
million payments over three providers, two events each, 100,000 dead letters and 100,000 outbox events. Then,
while a writer runs statements shaped as the code before accounts wrote them (a payment upserted naming its
old key, its event inserted, a payment read by its order reference: one payment per transaction, so that each
wait on a lock shows), it upgrades to 0013 and times each statement of the migration. The writer's
transactions in the five seconds before the migration are the baseline, measured in the same run; the figure
that says "without downtime" is the writer's longest wait while the migration ran, failed transactions
included. Then the rest of the way to the latest revision, timed the same way with the new code's shape.

The writer is the code before accounts on purpose: during a rolling deploy it is what still runs when the
migration starts. Its upsert names the key that 0013 replaces, so after 0013 it fails; the run counts those
failures (the workers of that code retry their batch until they are stopped, and the new workers apply it).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass, field

import psycopg
from alembic import command
from sqlalchemy import event
from sqlalchemy.engine import Engine

from shared.db.migrate import alembic_config
from shared.settings import Settings
from tests.support.before_accounts import AFTER, BEFORE, BEFORE_ACCOUNTS, fill

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_migration_bench"
ACCOUNTS = "0013"
SLOW_STATEMENT_SECONDS = 0.05


@dataclass
class Writer:
    """Code of one revision, writing one payment per transaction until told to stop."""

    url: str
    statements: tuple[str, str, str]
    name: str
    samples: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    errors: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        upsert, insert_event, lookup = self.statements
        with psycopg.connect(self.url) as conn:
            n = 0
            while not self.stop.is_set():
                n += 1
                key = f"{self.name}-{n}"
                values: dict[str, object] = {"provider": "pivot", "key": key, "entry": key}
                started = time.perf_counter()
                try:
                    with conn.transaction():
                        row = conn.execute(upsert, values).fetchone()
                        if row is not None:
                            conn.execute(insert_event, {**values, "id": row[0]})
                        conn.execute(lookup, values).fetchone()
                except psycopg.Error as exc:
                    # A failed transaction counts with its wait too (one that waited on a lock, then failed).
                    self.samples.append((started, time.perf_counter() - started))
                    self.errors.append((started, str(exc).splitlines()[0]))
                    time.sleep(0.01)
                    continue
                self.samples.append((started, time.perf_counter() - started))

    def between(self, low: float, high: float) -> list[float]:
        return [seconds for started, seconds in self.samples if low <= started < high]


def timing_statements() -> list[tuple[str, float]]:
    """Every statement the migrations run that takes longer than SLOW_STATEMENT_SECONDS, with its seconds."""
    slow: list[tuple[str, float]] = []

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        conn.info.setdefault("started", []).append(time.perf_counter())

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seconds = time.perf_counter() - conn.info["started"].pop()
        if seconds >= SLOW_STATEMENT_SECONDS:
            slow.append((" ".join(statement.split())[:110], seconds))

    return slow


def upgrade_timed(revision: str, slow: list[tuple[str, float]]) -> float:
    config = alembic_config(Settings.from_env({"PAYHOOK_DATABASE_URL": DATABASE}))
    del slow[:]
    started = time.perf_counter()
    command.upgrade(config, revision)
    return time.perf_counter() - started


def report(name: str, seconds: float, slow: list[tuple[str, float]], waits: list[float], base: list[float]) -> None:
    print(f"\n{name}: {seconds:.1f} s")
    for statement, took in slow:
        print(f"  {took:8.2f} s  {statement}")
    if waits:
        p99 = statistics.quantiles(waits, n=100)[98] if len(waits) >= 100 else max(waits)
        print(
            f"  writer meanwhile: {len(waits):,} transactions ({len(waits) / seconds:,.0f}/s, baseline "
            f"{len(base) / 5:,.0f}/s), median {statistics.median(waits) * 1000:.1f} ms "
            f"(baseline {statistics.median(base) * 1000:.1f}), p99 {p99 * 1000:.1f} ms, "
            f"longest {max(waits) * 1000:.0f} ms (baseline {max(base) * 1000:.0f} ms)"
        )


def measured(writer: Writer, revision: str, name: str, slow: list[tuple[str, float]]) -> None:
    """Upgrade to ``revision`` while ``writer`` writes, after five seconds of it alone, and report."""
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    time.sleep(5)
    started = time.perf_counter()
    seconds = upgrade_timed(revision, slow)
    ended = started + seconds
    report(name, seconds, slow, writer.between(started, ended), writer.between(started - 5, started))
    during = [(at, message) for at, message in writer.errors if at < ended]
    first = f" (the first {during[0][0] - started:.2f} s in: {during[0][1]})" if during else ""
    print(f"  writer errors while it ran: {len(during)}{first}")
    time.sleep(2)
    writer.stop.set()
    thread.join()
    later = [message for at, message in writer.errors if at >= ended]
    print(f"  {writer.name}'s code afterwards: {len(later)} errors in 2 s" + (f" ({later[0]})" if later else ""))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.migration")
    parser.add_argument("--payments", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"migration: filling {args.payments:,} payments at revision {BEFORE_ACCOUNTS} ...", flush=True)
    print(f"migration: filled in {fill(args.payments, DATABASE):.0f} s", flush=True)
    url = DATABASE.replace("+psycopg", "")
    slow = timing_statements()
    measured(
        Writer(url, BEFORE, "before"),
        ACCOUNTS,
        f"{BEFORE_ACCOUNTS} -> {ACCOUNTS} (accounts), the code before accounts writing",
        slow,
    )
    measured(Writer(url, AFTER, "after"), "head", f"{ACCOUNTS} -> head, the code after accounts writing", slow)


if __name__ == "__main__":
    main()
