"""Complaint tables. Every column of the customer-data table is declared (catalog.spec)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped

from kehu.catalog.spec import field, system
from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["ComplaintSequence", "Complaint"]

KINDS = (("goods", "商品"), ("service", "服务"), ("other", "其他"))
CHANNELS = (("phone", "电话"), ("visit", "来访"), ("letter", "信函"), ("email", "电子邮件"), ("online", "网站/在线"),
            ("wechat", "微信"), ("other", "其他"))
URGENCIES = (("critical", "特急"), ("urgent", "急"), ("normal", "一般"))
HANDLINGS = (("return", "退货"), ("exchange", "换货"), ("discount", "折扣"), ("repair", "维修"))
SATISFACTION = (("very_satisfied", "非常满意"), ("satisfied", "满意"), ("neutral", "一般"),
                ("dissatisfied", "不满意"), ("very_dissatisfied", "非常不满意"))
STATUSES = (("registered", "已受理"), ("investigated", "已调查"), ("planned", "已定对策"), ("handled", "已处理"),
            ("evaluated", "已评价"), ("closed", "已结案"))


class ComplaintSequence(Base):
    """Per-year counter behind complaint numbers (受理编号); numbers are never reused."""

    __tablename__ = "complaint_sequences"

    year: Mapped[int] = system(Integer, primary_key=True, why="calendar year")
    last: Mapped[int] = system(Integer, nullable=False, default=0, why="last number issued")


class Complaint(Base):
    """A customer complaint (投诉) and the state of its handling."""

    __tablename__ = "complaints"
    __entity__ = "complaint"
    __table_args__ = (Index("ix_complaints_open", "status", "promised_on"),
                      Index("ix_complaints_customer", "customer_id", "id"))

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered, bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="complaining customer")
    complaint_no: Mapped[str] = field("受理编号", level=3, category="management", length=20, writable=False,
                                      nullable=False, unique=True, help="TS+年份+序号，唯一且永不复用")
    status: Mapped[str] = field("处理状态", level=3, category="management", kind="choice", choices=STATUSES,
                                length=12, writable=False, nullable=False, default="registered")
    kind: Mapped[str] = field("投诉类型", level=3, category="management", kind="choice", choices=KINDS, length=10,
                              nullable=False)
    channel: Mapped[str] = field("投诉渠道", level=3, category="management", kind="choice", choices=CHANNELS,
                                 length=10, nullable=False)
    urgency: Mapped[str] = field("紧急程度", level=3, category="management", kind="choice", choices=URGENCIES,
                                 length=10, nullable=False)
    received_on: Mapped[date] = field("受理日期", level=3, category="management", kind="date", nullable=False,
                                      help="默认为当天")
    content: Mapped[str] = field("投诉内容", level=2, category="transaction", length=4000, nullable=False)
    promised_on: Mapped[date | None] = field("承诺完成日期", level=3, category="management", kind="date",
                                             help="默认按紧急程度计算：特急1天、急3天、一般7天")
    cause: Mapped[str | None] = field("投诉原因", level=2, category="transaction", length=2000,
                                      help="调查步骤填写")
    countermeasure: Mapped[str | None] = field("处理对策", level=2, category="transaction", length=2000)
    handling: Mapped[str | None] = field("处理方式", level=2, category="transaction", kind="choice",
                                         choices=HANDLINGS, length=10)
    loss_amount: Mapped[Decimal | None] = field("损失金额", level=2, category="transaction", kind="decimal",
                                                check="non_negative")
    responsible_department_id: Mapped[str | None] = field("责任部门", level=3, category="management", length=32,
                                                          check="department_ref")
    handled_on: Mapped[date | None] = field("处理日期", level=3, category="management", kind="date",
                                            writable=False)
    satisfaction: Mapped[str | None] = field("客户满意度评价", level=2, category="transaction", kind="choice",
                                             choices=SATISFACTION, length=20)
    evaluation_note: Mapped[str | None] = field("评价说明", level=2, category="transaction", length=1000)
    closed_on: Mapped[date | None] = field("实际完成日期", level=3, category="management", kind="date",
                                           writable=False)
    survey_id: Mapped[str | None] = system(String(32), why="satisfaction survey that fed the evaluation")
    created_by: Mapped[str | None] = system(String(32), why="user who registered the complaint")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="registration time")
    updated_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="last change time")
