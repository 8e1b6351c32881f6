"""The console's payment search: a form's filters read forgivingly and written back (no I/O), then on the real
PostgreSQL the payments they select, newest first, a prefix of the order reference with LIKE's wildcards
taken literally, pages by cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared.canonical import Status
from shared.db.models import Payment
from shared.db.payment_search import PaymentSearch, search


def test_a_forms_filters_are_read_forgivingly_and_written_back() -> None:
    filters = PaymentSearch.from_query(
        {"provider": " pivot\x00 ", "status": "paid", "order_ref": "", "since": "2026-01-01T07:00:00+07:00"}
    )
    assert filters == PaymentSearch(provider="pivot", status=Status.PAID, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert filters.to_query() == {"provider": "pivot", "status": "paid", "since": "2026-01-01T07:00:00+07:00"}
    assert PaymentSearch.from_query({"status": "shipped", "until": "soon", "account": ["a"]}) == PaymentSearch()
    assert PaymentSearch.from_query(PaymentSearch(order_ref="ord-1").to_query()) == PaymentSearch(order_ref="ord-1")


@pytest.mark.integration
def test_the_payments_selected_newest_first_by_prefix_and_by_page(engine: Engine) -> None:
    refs = ["ord-1", "ord-2", "ord_3", "50%-off", "500-off"]
    with Session(engine) as session, session.begin():
        for n, ref in enumerate(refs):
            status = Status.PAID if n % 2 == 0 else Status.PENDING
            session.add(Payment(provider="pivot", payment_key=f"k{n}", order_ref=ref, status=status))
            session.flush()
    with Session(engine) as session:

        def found(filters: PaymentSearch, **page: int) -> list[str | None]:
            return [
                p.order_ref for p in search(session, filters, limit=page.get("limit", 10), before=page.get("before"))
            ]

        assert found(PaymentSearch()) == list(reversed(refs))
        assert found(PaymentSearch(order_ref="ord-")) == ["ord-2", "ord-1"]  # "_" is no wildcard
        assert found(PaymentSearch(order_ref="50%")) == ["50%-off"]  # nor is "%"
        assert found(PaymentSearch(status=Status.PAID)) == ["500-off", "ord_3", "ord-1"]
        assert found(PaymentSearch(provider="midtrans")) == []
        first = search(session, PaymentSearch(), limit=2)
        assert found(PaymentSearch(), limit=2, before=first[-1].id) == ["ord_3", "ord-2"]
