"""Tables of `kehu.supervision`: alarm rule settings, the scan checkpoint and the alerts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["AlarmRule", "AlarmState", "Alert"]


class AlarmRule(Base):
    """The supervisor's settings of one built-in rule (a missing row means the rule's defaults)."""

    __tablename__ = "alarm_rules"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    limit: Mapped[int] = mapped_column(Integer, nullable=False)
    window_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    lock: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    params: Mapped[str | None] = mapped_column(Text)  # JSON: working hours, weekend, holidays
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(32))


class AlarmState(Base):
    """Checkpoint of the incremental scan: the last audit seq evaluated (one row, id 1)."""

    __tablename__ = "alarm_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Alert(Base):
    """One alarm: a rule exceeded by one subject (user, or ip:… for unknown users) in one window.

    (rule, subject, bucket) is unique, so scanning the same audit entries again updates the alert
    instead of raising another. `bucket` is the window's number (or the triggering seq for one-off rules).
    """

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("rule", "subject", "bucket", name="uq_alerts_rule_subject_bucket"),
                      Index("ix_alerts_status_created", "status", "created_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(30), nullable=False)
    subject: Mapped[str] = mapped_column(String(80), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    user_name: Mapped[str | None] = mapped_column(String(60))
    bucket: Mapped[int] = mapped_column(Integer, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    limit: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    first_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    last_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="open")  # open|acknowledged|closed
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(60))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledge_note: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(60))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_note: Mapped[str | None] = mapped_column(Text)
