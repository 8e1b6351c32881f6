"""The dead-letter table on the real PostgreSQL: a redelivered entry recorded once, NULs cleaned, event type
and order reference peeked from the body, filters (free text escaped as text), cursor pages, counts, replay
marking each letter once, purge."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.db import dead_letters as dlq
from shared.queue import QueuedCallback
from shared.sealing import Sealer

pytestmark = pytest.mark.integration


def _letter(entry: str, body: bytes, reason: str = "unknown_event", provider: str = "pivot") -> dlq.Rejected:
    callback = QueuedCallback(provider, body, {"x-api-key\x00": "k"}, 1_750_000_000.5)
    return dlq.Rejected(entry, callback, reason, f"detail of {entry}\x00")


def _record(engine: Engine, *letters: dlq.Rejected) -> None:
    with Session(engine) as session, session.begin():
        dlq.record(session, list(letters), Sealer())


def test_a_letter_is_recorded_once_with_what_its_body_names(engine: Engine) -> None:
    body = b'{"event": "PAYMENT.EXPLODED", "data": {"clientReferenceId": "order-9"}}'
    _record(engine, _letter("1-0", body))
    _record(engine, _letter("1-0", body), _letter("2-0", b"not json", "invalid_json"))
    with Session(engine) as session:
        letters = dlq.list_letters(session, dlq.Filters())
        assert [letter.entry_id for letter in letters] == ["1-0", "2-0"]
        first = letters[0]
        assert (first.event_type, first.order_ref) == ("PAYMENT.EXPLODED", "order-9")
        assert first.detail == "detail of 1-0\ufffd" and first.headers == {"x-api-key\ufffd": "k"}
        assert dlq.original(first, Sealer()) == QueuedCallback("pivot", body, {"x-api-key\ufffd": "k"}, 1_750_000_000.5)
        assert dlq.count_waiting(session) == 2 and dlq.newest_id(session) == letters[1].id


def test_filters_pages_and_counts(engine: Engine) -> None:
    _record(
        engine,
        _letter("1-0", b'{"event": "A", "note": "100%_off"}'),
        _letter("2-0", b'{"event": "B"}', "invalid_json"),
        _letter("3-0", b'{"event": "A", "note": "100 off"}', provider="midtrans"),
    )
    with Session(engine) as session:
        assert [x.entry_id for x in dlq.list_letters(session, dlq.Filters(search="100%_"))] == ["1-0"]
        assert [x.entry_id for x in dlq.list_letters(session, dlq.Filters(provider="midtrans"))] == ["3-0"]
        assert dlq.counts_by_reason(session, dlq.Filters()) == {"unknown_event": 2, "invalid_json": 1}
        ids = dlq.matching_ids(session, dlq.Filters())
        page = dlq.list_letters(session, dlq.Filters(), limit=2)
        assert [x.id for x in page] == ids[:2]
        assert [x.id for x in dlq.list_letters(session, dlq.Filters(), after=page[-1].id)] == ids[2:]
        assert dlq.count_matching(session, dlq.Filters(reason="unknown_event")) == 2
        assert dlq.count_matching(session, dlq.Filters(), up_to=1) == 1


def test_replay_marks_each_letter_once_and_purge_removes_them(engine: Engine) -> None:
    _record(engine, _letter("1-0", b"{}"), _letter("2-0", b"{}"))
    with Session(engine) as session, session.begin():
        ids = dlq.matching_ids(session, dlq.Filters())
        assert [x.id for x in dlq.mark_replayed(session, ids[:1])] == ids[:1]
        assert dlq.mark_replayed(session, ids[:1]) == []
        assert [x.id for x in dlq.waiting(session, ids)] == ids[1:]
    with Session(engine) as session, session.begin():
        assert dlq.count_waiting(session) == 1
        assert len(dlq.list_letters(session, dlq.Filters(include_replayed=True))) == 2
        assert dlq.purge(session, ids) == 2
        assert dlq.get(session, ids[0]) is None


def _in_account(entry: str, account: str) -> dlq.Rejected:
    callback = QueuedCallback("pivot", b'{"event": "PAYMENT.PAID"}', {}, 1.0, account)
    return dlq.Rejected(entry, callback, "bad_signature", "refused")


def test_the_account_filter_selects_one_accounts_letters(engine: Engine) -> None:
    _record(engine, _in_account("1-0", "default"), _in_account("2-0", "brand-b"), _in_account("3-0", "brand-b"))
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
