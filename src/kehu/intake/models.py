"""Tables of `kehu.intake`: collection channels (public forms, other systems), submissions and corrections.

A submission's values are customer data before any archive exists: they are sealed as one JSON
document with a data key of the submission's own (wrapped by the master key, like a customer's).
The key and the sealed values are dropped once the submission is decided, so a rejected
submission leaves only its decision and reason, and an approved one lives on in the archive.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["IntakeChannel", "IntakeSubmission", "IntakeCorrection"]

KINDS = (("form", "网页收集表单"), ("system", "外部系统接口"))
STATUSES = (("pending", "待审核"), ("approved", "已通过"), ("rejected", "已驳回"))


class IntakeChannel(Base):
    """A collection channel: a public web form (/collect/<code>) or another system with its own token."""

    __tablename__ = "intake_channels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    source_channel: Mapped[str] = mapped_column(String(20), nullable=False)  # customers.CHANNELS code
    fields: Mapped[str] = mapped_column(String(1000), nullable=False)  # customer fields it may send, comma-separated
    purposes: Mapped[str] = mapped_column(String(400), nullable=False)  # consent purposes offered, comma-separated
    needs_review: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))  # acts for submissions not reviewed
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)  # SHA-256 of a system's token
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(32))

    @property
    def field_list(self) -> list[str]:
        """Customer fields this channel collects."""
        return [f for f in self.fields.split(",") if f]

    @property
    def purpose_list(self) -> list[str]:
        """Consent purposes offered on this channel."""
        return [p for p in self.purposes.split(",") if p]


class IntakeSubmission(Base):
    """One collected record waiting for review (or decided): sealed values, status, decision."""

    __tablename__ = "intake_submissions"
    __table_args__ = (Index("ix_intake_submissions_status", "status", "received_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("intake_channels.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    dek: Mapped[bytes | None] = mapped_column(LargeBinary)  # the submission's data key, wrapped; dropped on decision
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed JSON {data, consent}; dropped on decision
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)  # rejection reason / approval note
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    archive_no: Mapped[str | None] = mapped_column(String(20))
    corrections: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class IntakeCorrection(Base):
    """A reviewer's correction of one submitted field (old → new, sealed with the new customer's key)."""

    __tablename__ = "intake_corrections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("intake_submissions.id", ondelete="CASCADE"),
                                               nullable=False, index=True)
    field: Mapped[str] = mapped_column(String(40), nullable=False)
    old_value: Mapped[bytes | None] = mapped_column(LargeBinary)
    new_value: Mapped[bytes | None] = mapped_column(LargeBinary)
    corrected_by: Mapped[str] = mapped_column(String(32), nullable=False)
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
