"""The dead-letter table's queries (shared/db/dead_letters.py), on the real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.db import dead_letters as dlq
from shared.queue import QueuedCallback
from shared.sealing import Sealer
from tests.support.fixtures import sample

pytestmark = pytest.mark.integration


def _letter(entry: str, account: str) -> dlq.Rejected:
    callback = QueuedCallback("pivot", sample("pivot.payment_paid"), {}, 1.0, account)
    return dlq.Rejected(entry, callback, "bad_signature", "refused")


def test_the_account_filter_selects_one_accounts_letters(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        dlq.record(session, [_letter("1-0", "default"), _letter("2-0", "brand-b"), _letter("3-0", "brand-b")], Sealer())
    with Session(engine) as session:
        chosen = dlq.list_letters(session, dlq.Filters(account="brand-b"))
        everything = dlq.list_letters(session, dlq.Filters())
        counted = dlq.counts_by_reason(session, dlq.Filters(provider="pivot", account="default"))
    assert [(letter.entry_id, letter.account) for letter in chosen] == [("2-0", "brand-b"), ("3-0", "brand-b")]
    assert len(everything) == 3
    assert counted == {"bad_signature": 1}


def test_the_account_filter_survives_a_jobs_stored_document() -> None:
    filters = dlq.Filters(provider="pivot", account="brand-b")
    assert dlq.Filters.from_document(filters.to_document()) == filters
    assert dlq.Filters.from_query(filters.to_query()) == filters
