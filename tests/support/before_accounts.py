"""A database as it was before accounts (alembic revision 0012), filled with payments, their events, dead letters
and outbox events; and the statements the code wrote with before and after accounts. For the test of an
upgrade across accounts and for ``make bench-migration``."""

from __future__ import annotations

import time

from alembic import command
from sqlalchemy import create_engine, text

from shared.db.migrate import alembic_config, create_database_if_missing
from shared.settings import Settings
from tests.support.pipeline import drop_database

BEFORE_ACCOUNTS = "0012"
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
    FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS n WHERE n % 10 = 0
    """,
    """
    INSERT INTO outbox_events (event_id, type, provider, payment_id, body)
    SELECT 'evt_' || p.id, 'payment.' || p.status, p.provider, p.id, convert_to('{}', 'UTF8')
    FROM payments p WHERE p.id BETWEEN :low AND :high AND p.id % 10 = 0
    """,
)

# What the code writes, in the shape of its statements before accounts (its upsert names the key 0013 replaces;
# the payment lookup by order reference) and after (the account named). Not the batch statements themselves:
# one payment per transaction, so that each wait on a lock shows.
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


def fill(payments: int, database: str) -> float:
    """A fresh ``database`` at the schema before accounts, filled; seconds taken."""
    settings = Settings.from_env({"PAYHOOK_DATABASE_URL": database})
    drop_database(database)
    create_database_if_missing(settings)
    command.upgrade(alembic_config(settings), BEFORE_ACCOUNTS)
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
