"""Tables of `kehu.approvals`: one row per two-person approval request (never customer values)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime

__all__ = ["Approval"]

STATUSES = ("pending", "approved", "rejected", "expired", "used")


class Approval(Base):
    """A request for a second person's approval of one exactly described operation (single use)."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_queue", "status", "capability", "id"),
        Index("ix_approvals_requester", "requested_by", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)  # export.level1 | share | destroy …
    #: capability an approver must hold (copied from the kind at request time)
    capability: Mapped[str] = mapped_column(String(40), nullable=False)
    #: data rights the operation needs, "action:level" comma-separated; the approver must hold each
    rights: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    summary: Mapped[str] = mapped_column(String(500), nullable=False)
    #: what exactly will be done, canonical JSON (field keys, filters, purpose — never customer values)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SHA-256 of the canonical payload
    subject_id: Mapped[str | None] = mapped_column(String(32))  # the operation's own record (e.g. the export)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
