"""The audit log and its chain head."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime


class AuditEntry(Base):
    """One audited event. Field names only, never values. Chained: mac = HMAC(key, prev_mac ‖ entry)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_actor", "actor_id", "seq"),
        Index("ix_audit_log_customer", "customer_no", "seq"),
        Index("ix_audit_log_action", "action", "seq"),
        Index("ix_audit_log_ts", "ts"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    actor_name: Mapped[str | None] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)  # ok | denied | failed
    target_type: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(64))
    customer_no: Mapped[str | None] = mapped_column(String(20))
    fields: Mapped[str | None] = mapped_column(Text)  # comma-separated field keys
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # JSON, never customer values
    ip: Mapped[str | None] = mapped_column(String(45))
    prev_mac: Mapped[str] = mapped_column(String(64), nullable=False)
    mac: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHead(Base):
    """The chain head: last seq and mac, itself MAC'd so truncating the log is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    mac: Mapped[str] = mapped_column(String(64), nullable=False)
    seal: Mapped[str] = mapped_column(String(64), nullable=False)
