"""What a bulk job goes through, stored with the job and read back: dead letters by their filters, payments by
provider, status and time. Documents round-trip without I/O; counts and pages on the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.canonical import Status
from shared.db import dead_letters as dlq
from shared.db.models import Payment
from shared.ops.selections import LetterSelection, PaymentSelection, selection_of
from shared.queue import QueuedCallback
from shared.sealing import Sealer


def test_a_selection_is_stored_as_a_document_and_read_back_by_the_jobs_kind() -> None:
    payments = PaymentSelection(("pivot", "midtrans"), "pending", since=datetime(2026, 1, 1, tzinfo=UTC))
    document = payments.to_document()
    assert document == {"providers": ["pivot", "midtrans"], "status": "pending", "since": "2026-01-01T00:00:00+00:00"}
    assert selection_of("reconcile", document) == payments
    letters = LetterSelection(dlq.Filters(provider="pivot", reason="invalid_json"))
    assert selection_of("replay", letters.to_document()) == letters
    assert selection_of("purge", LetterSelection(dlq.Filters()).to_document()) == LetterSelection(dlq.Filters())


@pytest.mark.integration
def test_payments_are_counted_and_paged_by_id(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        for n, (provider, status) in enumerate(
            [("pivot", Status.PENDING), ("pivot", Status.PAID), ("midtrans", Status.PENDING), ("pivot", Status.PENDING)]
        ):
            session.add(Payment(provider=provider, payment_key=f"k{n}", status=status))
    selection = PaymentSelection(("pivot",), "pending")
    with Session(engine) as session:
        newest = selection.newest_id(session)
        assert selection.count(session, up_to=newest) == 2
        first = selection.ids(session, after=0, up_to=newest, limit=1)
        rest = selection.ids(session, after=first[-1], up_to=newest, limit=10)
        assert len(first) == 1 and len(rest) == 1 and first[0] < rest[0]
        assert selection.ids(session, after=0, up_to=first[0], limit=10) == first  # later payments left out


@pytest.mark.integration
def test_letters_are_counted_and_paged_by_their_filters(engine: Engine) -> None:
    rejected = [
        dlq.Rejected(f"{n}-0", QueuedCallback("pivot", b"{}", {}, 1.0), reason, "d")
        for n, reason in enumerate(["invalid_json", "unknown_event", "invalid_json"], 1)
    ]
    with Session(engine) as session, session.begin():
        dlq.record(session, rejected, Sealer())
    selection = LetterSelection(dlq.Filters(reason="invalid_json"))
    with Session(engine) as session:
        newest = selection.newest_id(session)
        ids = selection.ids(session, after=0, up_to=newest, limit=10)
        assert selection.count(session, up_to=newest) == 2 and len(ids) == 2
        assert selection.ids(session, after=ids[0], up_to=newest, limit=10) == ids[1:]
