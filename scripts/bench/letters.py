"""``make bench-letters``: the dead-letter queue at 1,000,000 letters, as operators page and filter it.

Fills a database of its own (``payhook_letters_bench``) with a million letters over three providers and six
reasons (bodies like real callbacks, a month of dead-lettering), then times, through the operator service
that the admin API, the CLI and the console all call: cursor pages (first and deep), the offset page the
cursor replaces (the baseline, measured in the same run), each filter, free text, counts by reason, a job's
count. Each figure is the median of five runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from shared.db import dead_letters as dlq
from shared.db.migrate import upgrade
from shared.ops.service import OperatorService
from shared.settings import Settings

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/payhook_letters_bench"
REASONS = ("missing_field", "invalid_json", "unknown_status", "unknown_event", "invalid_amount", "crashed_worker")
PROVIDERS = ("pivot", "revenue-monster", "midtrans")

_FILL = text("""
    INSERT INTO dead_letters (entry_id, provider, body, headers, received_at, reason, detail, traceback,
                              created_at, event_type, order_ref)
    SELECT 'bench-' || n,
           (ARRAY['pivot', 'revenue-monster', 'midtrans'])[1 + n % 3],
           convert_to('{"event":"PAYMENT.PAID","data":{"id":"ps-' || n || '","clientReferenceId":"order-' || n
                      || '","status":"PAID","amount":{"value":' || (n % 900000 + 1000) || ',"currency":"IDR"},'
                      || '"paymentMethod":{"type":"CARD"},"statementDescriptor":"Example Store",'
                      || '"createdAt":"2026-11-01T00:00:00Z","metadata":{"invoiceNo":"INV' || n || '"}}}', 'UTF8'),
           '{"content-type": "application/json"}'::jsonb,
           CAST(:start AS timestamptz) + n * interval '2.592 seconds',
           (ARRAY['missing_field', 'invalid_json', 'unknown_status', 'unknown_event', 'invalid_amount',
                  'crashed_worker'])[1 + n % 6],
           'data.id is missing or empty',
           NULL,
           CAST(:start AS timestamptz) + n * interval '2.592 seconds',
           (ARRAY['PAYMENT.PAID', 'PAYMENT.CANCELLED', 'REFUND.SUCCESS', 'settlement'])[1 + n % 4],
           'order-' || n
    FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS n
""")


def fill(count: int) -> float:
    """Fill the database with ``count`` letters (skipped when it holds them already); seconds taken."""
    settings = Settings.from_env({"PAYHOOK_DATABASE_URL": DATABASE})
    upgrade(settings)
    engine = create_engine(DATABASE)
    started = time.perf_counter()
    with engine.begin() as conn:
        have = conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one()
        if have != count:
            conn.execute(text("TRUNCATE dead_letters RESTART IDENTITY"))
            start = datetime.now(UTC) - timedelta(days=30)
            for low in range(1, count + 1, 100_000):
                conn.execute(_FILL, {"start": start, "low": low, "high": min(low + 99_999, count)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE dead_letters"))
    engine.dispose()
    return time.perf_counter() - started


def timed(fn: Callable[[], object], runs: int = 5) -> float:
    fn()  # warm: plans cached, pages in memory, as for an operator's second click
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.letters")
    parser.add_argument("--letters", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.letters
    print(f"letters: filling {n:,} dead letters ...", flush=True)
    print(f"letters: filled in {fill(n):.0f} s", flush=True)
    ops = OperatorService(Settings.from_env({"PAYHOOK_DATABASE_URL": DATABASE}), pool_size=1)
    deep = int(n * 0.9)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("first page (50), no filter", lambda: ops.letters(dlq.Filters(), limit=50)),
        (f"cursor page after id {deep:,}", lambda: ops.letters(dlq.Filters(), limit=50, after=deep)),
        (f"BASELINE offset page at {deep:,}", lambda: ops.letters(dlq.Filters(), limit=50, offset=deep)),
        ("reason, first page", lambda: ops.letters(dlq.Filters(reason="unknown_status"), limit=50)),
        (
            f"reason, cursor after {deep:,}",
            lambda: ops.letters(dlq.Filters(reason="unknown_status"), limit=50, after=deep),
        ),
        ("provider + reason", lambda: ops.letters(dlq.Filters(provider="midtrans", reason="invalid_json"), limit=50)),
        ("event type, cursor deep", lambda: ops.letters(dlq.Filters(event_type="settlement"), limit=50, after=deep)),
        ("order reference (one letter)", lambda: ops.letters(dlq.Filters(order_ref=f"order-{deep}"), limit=50)),
        (
            "time range (one day)",
            lambda: ops.letters(
                dlq.Filters(since=datetime.now(UTC) - timedelta(days=3), until=datetime.now(UTC) - timedelta(days=2)),
                limit=50,
            ),
        ),
        ("free text, common (first page)", lambda: ops.letters(dlq.Filters(search="Example Store"), limit=50)),
        ("free text, one letter (whole scan)", lambda: ops.letters(dlq.Filters(search=f"INV{deep}}}"), limit=50)),
        ("counts by reason (all)", lambda: ops.letter_counts(dlq.Filters())),
        ("a job's count (one reason)", lambda: ops.matching(dlq.Filters(reason="crashed_worker"))),
    ]
    print(f"\n{'dead letters: ' + format(n, ','):<44} {'median ms':>10}")
    figures = {}
    for name, case in cases:
        figures[name] = timed(case)
        print(f"{name:<44} {figures[name]:>10.1f}", flush=True)
    cursor = figures[f"cursor page after id {deep:,}"]
    offset = figures[f"BASELINE offset page at {deep:,}"]
    print(f"\ncursor vs offset at {deep:,}: {offset / cursor:,.0f} x faster")
    ops.close()


if __name__ == "__main__":
    main()
