"""Lead stage definitions (company rules) and leads / opportunities (商机) of customers with stage history."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kehu.catalog.spec import field, system
from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["LeadStage", "Lead", "LeadChange"]


class LeadStage(Base):
    """A configurable lead stage (C / B / A1 / A2 / A3 by default). Company rules, not customer data."""

    __tablename__ = "lead_stages"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    description: Mapped[str | None] = mapped_column(String(400))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class Lead(Base):
    """A lead / opportunity (商机) of a customer: title, expected amount and signing date, stage."""

    __tablename__ = "leads"
    __entity__ = "lead"
    __table_args__ = (Index("ix_leads_customer", "customer_id", "id"),)

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered, bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="customer of the deal")
    title: Mapped[str] = field("商机名称", level=2, category="transaction", length=200, nullable=False)
    expected_amount: Mapped[Decimal | None] = field("预计金额", level=2, category="transaction", kind="decimal",
                                                    check="non_negative")
    expected_sign_on: Mapped[date | None] = field("预计签约日期", level=2, category="transaction", kind="date")
    stage: Mapped[str] = field("商机阶段", level=3, category="management", length=10, nullable=False,
                               help="lead_stages 中的代码，如 C、B、A1、A2、A3")
    created_by: Mapped[str | None] = system(String(32), why="user who recorded the lead")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="recording time")
    updated_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="last change time")


class LeadChange(Base):
    """One stage change of a lead: from, to, who, when, why."""

    __tablename__ = "lead_changes"
    __entity__ = "lead_change"
    __customer_link__ = ("lead_id", "lead")
    __table_args__ = (Index("ix_lead_changes_lead", "lead_id", "id"),)

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered)")
    lead_id: Mapped[str] = system(ForeignKey("leads.id", ondelete="CASCADE"), nullable=False, why="changed lead")
    from_stage: Mapped[str | None] = field("原阶段", level=3, category="management", length=10, writable=False)
    to_stage: Mapped[str] = field("新阶段", level=3, category="management", length=10, writable=False,
                                  nullable=False)
    reason: Mapped[str | None] = field("变更原因", level=2, category="transaction", length=500, writable=False)
    changed_by: Mapped[str | None] = system(String(32), why="user who changed the stage")
    changed_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="time of the change")
