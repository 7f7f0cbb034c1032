"""Tables of `kehu.ops`: the progress of key rotations (resumable after an interruption)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["KeyRotation"]


class KeyRotation(Base):
    """One master-key re-wrap or blind-index recomputation: its target key and where it got to."""

    __tablename__ = "ops_key_rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # master | blind
    new_key: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="running")  # running | done
    cursor: Mapped[str | None] = mapped_column(Text)  # JSON {table: last row id done}
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    actor: Mapped[str | None] = mapped_column(String(60))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
