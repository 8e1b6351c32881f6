"""``make bench-migration``: migration 0013 (accounts) on a million payments, while payments keep being written.

Fills a database of its own (``payhook_migration_bench``) at revision 0012, the schema before accounts: a
million payments over three providers, two events each, 100,000 dead letters and 100,000 outbox events. Then,
while a writer runs the statements of the code before accounts in a loop (a payment upserted by its key, its
event inserted, a payment read by its order reference: one transaction each), it upgrades to 0013 and times
each statement of the migration. The writer's transactions in the five seconds before the migration are the
baseline, measured in the same run; the figure that says "without downtime" is the writer's longest wait while
the migration ran. Then the rest of the way to the latest revision, timed the same way.

The writer is the code before accounts on purpose: during a rolling deploy it is what still runs when the
migration starts. Its upsert names the key that 0013 replaces, so after 0013 it fails; the run counts those
failures (the code after accounts names the new key; the workers' batch is retried by the new workers).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass, field

import psycopg
from alembic import command
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from shared.db.migrate import alembic_config
from shared.settings import Settings

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_migration_bench"
BEFORE_ACCOUNTS = "0012"
ACCOUNTS = "0013"
SLOW_STATEMENT_SECONDS = 0.05
ACCOUNTED = ("payments", "payment_events", "dead_letters", "outbox_events")

_FILL = (
    """
    INSERT INTO payments (provider, payment_key, order_ref, status, amount, currency, provider_payment_id,
                          created_at, updated_at, status_received_at)
    SELECT (ARRAY['pivot', 'revenue-monster', 'midtrans'])[1 + n % 3], 'order-' || n, 'order-' || n,
           (ARRAY['paid', 'pending', 'cancelled', 'processing'])[1 + n % 4], 1000 + n % 900000, 'IDR', 'ps-' || n,
           now() - n * interval '2 seconds', now() - n * interval '2 seconds', now() - n * interval '2 seconds'
    FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS n
    """,
    """
    INSERT INTO payment_events (payment_id, entry_id, provider, event_type, event_key, status, outcome, amount,
                                currency, received_at, raw, source)
    SELECT p.id, e || '-' || p.id, p.provider, 'PAYMENT.PAID', p.payment_key || '/' || e, p.status, 'applied',
           p.amount, 'IDR', p.created_at,
           convert_to('{"event":"PAYMENT.PAID","data":{"id":"' || p.provider_payment_id || '","clientReferenceId":"'
                      || p.order_ref || '","status":"PAID","amount":{"value":' || p.amount
                      || ',"currency":"IDR"}}}', 'UTF8'),
           'callback'
    FROM payments p, (VALUES ('first'), ('second')) AS events(e)
    WHERE p.id BETWEEN :low AND :high
    """,
    """
    INSERT INTO dead_letters (entry_id, provider, body, headers, received_at, reason, detail, created_at)
    SELECT 'letter-' || n, 'pivot', convert_to('{"event":"PAYMENT.PAID"}', 'UTF8'), '{}'::jsonb, now(),
           'missing_field', 'data.id is missing or empty', now()
    FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint) / 10) AS n
    """,
    """
    INSERT INTO outbox_events (event_id, type, provider, payment_id, body)
    SELECT 'evt_' || p.id, 'payment.' || p.status, p.provider, p.id, convert_to('{}', 'UTF8')
    FROM payments p WHERE p.id BETWEEN :low AND :high AND p.id % 10 = 0
    """,
)

# What the code writes, before accounts (shared/db/apply.py of revision 0012) and after (the account named).
BEFORE = (
    """
    INSERT INTO payments (provider, payment_key, order_ref, status, amount, currency)
    VALUES (%(provider)s, %(key)s, %(key)s, 'pending', 1000, 'IDR')
    ON CONFLICT (provider, payment_key) DO NOTHING RETURNING id
    """,
    """
    INSERT INTO payment_events (payment_id, entry_id, provider, event_type, event_key, status, outcome,
                                received_at, raw)
    VALUES (%(id)s, %(entry)s, %(provider)s, 'PAYMENT.PROCESSING', %(key)s, 'pending', 'applied', now(), '{}')
    ON CONFLICT DO NOTHING
    """,
    "SELECT id, status FROM payments WHERE provider = %(provider)s AND order_ref = %(key)s",
)
AFTER = (
    """
    INSERT INTO payments (provider, account, payment_key, order_ref, status, amount, currency)
    VALUES (%(provider)s, 'default', %(key)s, %(key)s, 'pending', 1000, 'IDR')
    ON CONFLICT (provider, account, payment_key) DO NOTHING RETURNING id
    """,
    """
    INSERT INTO payment_events (payment_id, entry_id, provider, account, event_type, event_key, status, outcome,
                                received_at, raw)
    VALUES (%(id)s, %(entry)s, %(provider)s, 'default', 'PAYMENT.PROCESSING', %(key)s, 'pending', 'applied',
            now(), '{}')
    ON CONFLICT DO NOTHING
    """,
    "SELECT id, status FROM payments WHERE provider = %(provider)s AND account = 'default' AND order_ref = %(key)s",
)


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
        with psycopg.connect(self.url) as conn:
            n = 0
            while not self.stop.is_set():
                n += 1
                values: dict[str, object] = {"provider": "pivot", "key": f"{self.name}-{n}"}
                values["entry"] = values["key"]
                upsert, insert_event, lookup = self.statements
                started = time.perf_counter()
                try:
                    with conn.transaction():
                        row = conn.execute(upsert, values).fetchone()
                        if row is not None:
                            conn.execute(insert_event, {**values, "id": row[0]})
                        conn.execute(lookup, values).fetchone()
                except psycopg.Error as exc:
                    self.errors.append((started, str(exc).splitlines()[0]))
                    time.sleep(0.01)
                    continue
                self.samples.append((started, time.perf_counter() - started))

    def between(self, low: float, high: float) -> list[float]:
        return [seconds for started, seconds in self.samples if low <= started < high]


def fill(payments: int, database: str = DATABASE) -> float:
    """A fresh ``database`` at the schema before accounts, filled; seconds taken."""
    url = make_url(database)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    command.upgrade(alembic_config(Settings.from_env({"PAYHOOK_DATABASE_URL": database})), BEFORE_ACCOUNTS)
    engine = create_engine(database)
    started = time.perf_counter()
    for low in range(1, payments + 1, 100_000):
        with engine.begin() as conn:
            for statement in _FILL:
                conn.execute(text(statement), {"low": low, "high": min(low + 99_999, payments)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


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


def measured(writer: Writer, revision: str, name: str, slow: list[tuple[str, float]]) -> float:
    """Upgrade to ``revision`` while ``writer`` writes, after five seconds of it alone; the end's clock."""
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
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.migration")
    parser.add_argument("--payments", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"migration: filling {args.payments:,} payments at revision {BEFORE_ACCOUNTS} ...", flush=True)
    print(f"migration: filled in {fill(args.payments):.0f} s", flush=True)
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
