"""SQLAlchemy 2 models: payments, every event each payment received (with its outcome), dead letters, the spool,
and the outbox (payment events, their consumers, deliveries and attempts)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.canonical import DeliveryStatus, Outcome, Status
from shared.db.base import Base as Base  # noqa: PLC0414 - re-exported: the schema's metadata
from shared.db.base import enum_type
from shared.db.operator_models import AccountRow as AccountRow  # noqa: PLC0414 - re-exported
from shared.db.operator_models import AuditEntry as AuditEntry  # noqa: PLC0414
from shared.db.operator_models import MinuteFigure as MinuteFigure  # noqa: PLC0414
from shared.db.operator_models import OperatorJob as OperatorJob  # noqa: PLC0414


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # A payment belongs to its merchant account: two accounts that number orders alike make two payments.
        Index("uq_payments_account_payment_key", "provider", "account", "payment_key", unique=True),
        # Partial: a lookup by order reference names one; the lock by payment key must never pick this index.
        Index(
            "ix_payments_account_order_ref_set",
            "provider",
            "account",
            "order_ref",
            postgresql_where=text("order_ref IS NOT NULL"),
        ),
        Index(
            "ix_payments_next_check", "provider", "next_check_at", postgresql_where=text("next_check_at IS NOT NULL")
        ),
        Index(
            "ix_payments_unresolved",
            "provider",
            "unresolved_at",
            "id",
            postgresql_where=text("unresolved_at IS NOT NULL"),
        ),
        # The console's search (``shared.db.payment_search``): newest first by status, by creation time, and
        # by an order-reference prefix (pattern ops: LIKE 'x%' uses it whatever the collation).
        Index("ix_payments_status", "status", "created_at", "id"),
        Index("ix_payments_created", "created_at", "id"),
        Index("ix_payments_order_ref_prefix", "order_ref", postgresql_ops={"order_ref": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64), server_default=text("'default'"))
    # The provider's identity of the payment; order_ref is filled in once an event carries it.
    payment_key: Mapped[str] = mapped_column(String(255))
    order_ref: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[Status] = mapped_column(enum_type(Status, "payment_status"))
    # When the event that set ``status`` was received: clashes of equal rank keep the first to arrive.
    status_received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Decimal | None] = mapped_column(Numeric)
    currency: Mapped[str | None] = mapped_column(String(3))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Reconciliation (``shared.reconcile.schedule``): when the provider's API is asked about it next, how many
    # delays of the schedule are spent, since when it is unresolved, and when the merchant said to expect it.
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_step: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    # Why the next query is planned: ``schedule``, ``confirm`` (a callback waits for it), ``report``, ``job``.
    check_reason: Mapped[str | None] = mapped_column(String(16))
    unresolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentEvent(Base):
    __tablename__ = "payment_events"
    __table_args__ = (
        # Deduplication: one event per natural key may change state; repeats are kept as 'duplicate'.
        Index(
            "uq_payment_events_first_of_key",
            "provider",
            "account",
            "event_key",
            unique=True,
            postgresql_where=text("outcome <> 'duplicate'"),
        ),
        Index("ix_payment_events_history", "payment_id", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    # The queue entry this row came from: a redelivered entry finds it and changes nothing.
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64), server_default=text("'default'"))
    event_type: Mapped[str] = mapped_column(String(64))
    event_key: Mapped[str] = mapped_column(String(600))
    status: Mapped[Status] = mapped_column(enum_type(Status, "event_status"))
    outcome: Mapped[Outcome] = mapped_column(enum_type(Outcome, "event_outcome"))
    # The payment's amount as the event states it; on refund events, the refund as the provider states it.
    amount: Mapped[Decimal | None] = mapped_column(Numeric)
    refund_amount: Mapped[Decimal | None] = mapped_column(Numeric)
    currency: Mapped[str | None] = mapped_column(String(3))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # ``callback`` or ``api`` (an answer of the provider's status API).
    source: Mapped[str] = mapped_column(String(16), server_default=text("'callback'"))


class PaymentCheck(Base):
    """One query of a provider's status API about a payment: when, why, what the provider said, and what came
    of it (``unchanged``, ``corrected``, ``not_found``, ``error``)."""

    __tablename__ = "payment_checks"
    __table_args__ = (
        Index("ix_payment_checks_payment", "payment_id", "id"),
        CheckConstraint(
            "result IN ('unchanged', 'corrected', 'confirmed', 'not_found', 'error')", name="ck_payment_checks_result"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Why it was asked: ``schedule``, ``confirm`` (a callback waiting for confirmation), ``manual``, ``job``,
    # ``report`` (listed in a provider's daily report).
    reason: Mapped[str] = mapped_column(String(16))
    provider_status: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(16))
    status_before: Mapped[str | None] = mapped_column(String(24))
    status_after: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str | None] = mapped_column(String(200))


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_created_at", "created_at"),
        Index("ix_dead_letters_provider_reason", "provider", "reason"),
        Index("ix_dead_letters_waiting", "id", postgresql_where=text("replayed_at IS NULL")),
        Index("ix_dead_letters_waiting_reason", "reason", "id", postgresql_where=text("replayed_at IS NULL")),
        Index(
            "ix_dead_letters_waiting_provider", "provider", "reason", "id", postgresql_where=text("replayed_at IS NULL")
        ),
        Index("ix_dead_letters_waiting_event_type", "event_type", "id", postgresql_where=text("replayed_at IS NULL")),
        Index("ix_dead_letters_order_ref", "order_ref"),
        Index("ix_dead_letters_waiting_created", "created_at", "id", postgresql_where=text("replayed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64), server_default=text("'default'"))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(64))
    # Read best-effort from the body when recorded (``Provider.peek``), for filters.
    event_type: Mapped[str | None] = mapped_column(String(64))
    order_ref: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replay_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class SpooledCallback(Base):
    """A callback the receiver acknowledged while Redis could not take it; moved to the stream once Redis is
    back, in id order, and deleted."""

    __tablename__ = "spooled_callbacks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Unix seconds, exactly as the queue entry carries them.
    received_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def sql_word(word: str) -> str:
    """``'a'``: a fixed word (an enum's value) as a literal of SQL text."""
    return f"'{word}'"


def sql_in(words: Iterable[str]) -> str:
    """``('a', 'b')``: fixed words for an ``IN`` of SQL text."""
    return "(" + ", ".join(sql_word(word) for word in words) + ")"


_UNFINISHED = text(f"status IN {sql_in(DeliveryStatus.unfinished())}")


class OutboxEvent(Base):
    """One payment change for the merchant's systems, written in the transaction that made the change. ``id``
    orders a payment's events as they were applied; ``body`` is the exact JSON every attempt sends."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_created_at", "created_at"),
        Index("ix_outbox_events_payment", "payment_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64), server_default=text("'default'"))
    payment_id: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Endpoint(Base):
    """A consumer of the outbox: a merchant's HTTP endpoint (``webhook``) or a Python ``handler`` registered
    under the entry-point group ``payhook.handlers``. Secrets are stored sealed (``shared.sealing``)."""

    __tablename__ = "endpoints"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'webhook' AND url IS NOT NULL AND secret IS NOT NULL)"
            " OR (kind = 'handler' AND handler IS NOT NULL)",
            name="ck_endpoints_kind",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    handler: Mapped[str | None] = mapped_column(String(200), unique=True)
    # None: every event type, every provider, every account.
    event_types: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    provider: Mapped[str | None] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Delivery(Base):
    """One event for one consumer. ``pending``: due at ``next_attempt_at``; ``sending``: claimed by a worker
    until ``next_attempt_at`` (its lease); ``delivered``; ``failed``: the schedule is spent (the outbound
    dead-letter queue, retryable)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_deliveries_event_endpoint"),
        CheckConstraint(f"status IN {sql_in(DeliveryStatus)}", name="ck_deliveries_status"),
        Index("ix_deliveries_due", "endpoint_id", "next_attempt_at", "event_id", postgresql_where=_UNFINISHED),
        Index("ix_deliveries_order", "endpoint_id", "payment_id", "event_id", postgresql_where=_UNFINISHED),
        Index("ix_deliveries_endpoint_status", "endpoint_id", "status", "id"),
        Index("ix_deliveries_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    payment_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    # The first KB of the answer, or what went wrong before there was one.
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
