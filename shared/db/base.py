"""The declarative base every model shares (its metadata is the schema the migrations must match), and the
enum column type of the canonical statuses."""

from __future__ import annotations

from sqlalchemy import Enum
from sqlalchemy.orm import DeclarativeBase

from shared.canonical import Outcome, Status


def enum_type(kind: type[Status] | type[Outcome], name: str) -> Enum:
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    pass
