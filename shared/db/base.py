"""The declarative base every model maps onto: ``Base.metadata`` is the schema the migrations must build."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
