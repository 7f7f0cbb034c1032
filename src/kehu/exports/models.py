"""Tables of `kehu.exports`: the register of every export (what, by whom, why, how many rows; never values)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime

__all__ = ["Export"]

STATUSES = ("awaiting_approval", "running", "done", "aborted")


class Export(Base):
    """One export of a filtered customer list (CSV / Excel)."""

    __tablename__ = "exports"
    __table_args__ = (Index("ix_exports_requester", "requested_by", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    format: Mapped[str] = mapped_column(String(4), nullable=False)  # csv | xlsx
    use: Mapped[str] = mapped_column(String(20), nullable=False)  # purpose category (consent is per category)
    purpose: Mapped[str] = mapped_column(String(200), nullable=False)  # stated purpose, in the watermark
    fields: Mapped[str] = mapped_column(Text, nullable=False)  # exported field keys, comma-separated
    plaintext: Mapped[str | None] = mapped_column(Text)  # level-1 field keys exported in plain text
    criteria: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: filters, sort, search digest (no values)
    #: the search text when the export waits for approval, sealed under the export's own key; erased once run
    q_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    q_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # that key, wrapped by the master key
    approval_id: Mapped[str | None] = mapped_column(ForeignKey("approvals.id"))
    row_count: Mapped[int | None] = mapped_column(Integer)
    excluded: Mapped[int | None] = mapped_column(Integer)  # customers left out for want of consent
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
