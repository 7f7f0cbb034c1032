"""Tables of `kehu.privacy`: working-day calendar, rights requests, legal holds, destructions.

None of them holds customer values: a request or destruction names the customer by archive number
(never reused) and the categories and counts concerned, so they survive the customer's erasure.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime, utcnow

REQUEST_KINDS = (("access", "查阅"), ("copy", "复制"), ("correction", "更正"), ("deletion", "删除"),
                 ("withdrawal", "撤回同意"), ("explanation", "解释说明处理规则"))
REQUEST_STATUSES = (("received", "已受理"), ("verified", "身份已核验"), ("completed", "已办结"),
                    ("rejected", "已拒绝"))
VERIFY_METHODS = (("id_document", "现场核验身份证件"), ("mobile_code", "手机验证码"),
                  ("signed_letter", "签字书面申请"), ("video", "视频核验"), ("other", "其他"))
DESTRUCTION_STATUSES = (("pending", "待审批/待执行"), ("executed", "已销毁"))
DAY_KINDS = (("holiday", "法定节假日"), ("workday", "调休上班日"))


class CalendarDay(Base):
    """A day that differs from the Monday–Friday rule: a public holiday or an adjusted working day (调休)."""

    __tablename__ = "privacy_calendar"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    note: Mapped[str | None] = mapped_column(String(60))


class RightsRequest(Base):
    """A data subject's request (个人信息权利请求) with its identity check, deadline, handler and outcome."""

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_status", "status", "due_on"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_no: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    customer_no: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(40))
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="received")
    verify_method: Mapped[str | None] = mapped_column(String(20))
    verified_by: Mapped[str | None] = mapped_column(String(32))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handler_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class LegalHold(Base):
    """A legal hold (诉讼/调查保全): blocks destruction of one customer, or of everything when no customer is named."""

    __tablename__ = "privacy_legal_holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_no: Mapped[str | None] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    placed_by: Mapped[str] = mapped_column(String(32), nullable=False)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    lifted_by: Mapped[str | None] = mapped_column(String(32))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lift_reason: Mapped[str | None] = mapped_column(Text)


class Destruction(Base):
    """A destruction (销毁): requested, approved by a second person, executed; keeps categories and counts, never content."""

    __tablename__ = "privacy_destructions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(12), nullable=False)  # archive | request | retention
    customer_nos: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of archive numbers
    request_id: Mapped[str | None] = mapped_column(ForeignKey("privacy_requests.id"))
    approval_id: Mapped[str | None] = mapped_column(String(32))  # kehu.approvals request of kind "destroy"
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    method: Mapped[str | None] = mapped_column(String(60))
    summary: Mapped[str | None] = mapped_column(Text)  # JSON [{category, entity, count, method}]
    requested_by: Mapped[str] = mapped_column(String(32), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


LEGAL_BASES = (("consent", "个人单独同意"), ("contract", "履行合同所必需"), ("legal_duty", "履行法定职责或义务"),
               ("public_health", "应对突发公共卫生事件"), ("other_law", "法律、行政法规规定的其他情形"))
SHARE_STATUSES = (("awaiting", "待审批"), ("produced", "已提供"))


class Share(Base):
    """A share with a third party (共享): recipient, purpose, fields, customers, legal basis, agreement, expiry."""

    __tablename__ = "privacy_shares"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    fields: Mapped[str] = mapped_column(Text, nullable=False)  # comma-separated catalogue keys
    customer_nos: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of archive numbers
    legal_basis: Mapped[str] = mapped_column(String(20), nullable=False)
    agreement_ref: Mapped[str] = mapped_column(String(100), nullable=False)
    expires_on: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="awaiting")
    approval_id: Mapped[str | None] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(32), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    produced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


__all__ = ["CalendarDay", "RightsRequest", "LegalHold", "Destruction", "Share"]
