"""The models of what operators manage and read beside the pipeline: accounts, the audit trail, bulk jobs and
the console's per-minute figures. ``shared.db.models`` re-exports them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base


class AccountRow(Base):
    """A merchant account of a provider: its callback credentials (several during a rotation) and, optionally,
    its status API's. ``settings`` holds the provider's settings for this account (``PAYHOOK_<PROVIDER>_*``
    names) as JSON, sealed with ``PAYHOOK_ENCRYPTION_KEYS`` when it is set; ``previous`` the settings a rotation
    replaced, valid for callbacks until ``previous_until``. ``fingerprints`` show a secret without showing it.
    The account ``default`` of each provider is the settings' own and is never stored."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("provider", "name", name="uq_accounts_provider_name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    settings: Mapped[bytes] = mapped_column(LargeBinary)
    previous: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fingerprints: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditEntry(Base):
    """One operator action: who (the admin token's name, or ``cli:<login>``), what, on which filter or target,
    how many, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(Text)
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    count: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class OperatorJob(Base):
    """A bulk replay or purge of every dead letter a filter selects, run in the background in id order.

    One job per kind and filter runs at a time (starting it twice finds the first); ``last_id`` is how far it
    got, so a job whose runner died goes on from there."""

    __tablename__ = "operator_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'cancelled', 'failed')", name="ck_operator_jobs_status"
        ),
        Index(
            "uq_operator_jobs_active",
            "kind",
            "filters_key",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    filters_key: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    processed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    changed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # The newest letter when the job started: a replay that fails again makes new letters, never its work.
    up_to_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Who runs it now (a random token per run): a runner whose job was taken over stops at its next step.
    runner: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MinuteFigure(Base):
    """A per-minute count for the console's charts (``shared.db.figures``); kept three days."""

    __tablename__ = "minute_figures"

    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
