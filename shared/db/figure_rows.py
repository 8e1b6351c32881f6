"""The table of the console's per-minute figures (written and read by ``shared.db.figures``, in SQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base


class MinuteFigure(Base):
    """A per-minute count (of one provider, kind and drain slot) for the console's charts; kept three days."""

    __tablename__ = "minute_figures"

    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
