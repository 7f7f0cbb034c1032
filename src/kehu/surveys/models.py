"""Survey templates (company data) and the surveys sent to customers with their answers (declared fields)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kehu.catalog.spec import field, system
from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["SurveyTemplate", "SurveyItem", "Survey", "SurveyAnswer"]

#: the five levels, best first, with their score
LEVELS = (("very_satisfied", "非常满意", 5), ("satisfied", "满意", 4), ("neutral", "一般", 3),
          ("dissatisfied", "不满意", 2), ("very_dissatisfied", "非常不满意", 1))
TRIGGERS = (("complaint", "投诉处理后"), ("schedule", "定期回访"), ("manual", "手工发起"))
SURVEY_STATUSES = (("sent", "已发送"), ("answered", "已答复"))
DEFAULT_ITEMS = (("service_quality", "服务质量"), ("attitude", "服务态度"), ("efficiency", "办事效率"),
                 ("expertise", "专业水平"), ("product_quality", "产品质量"), ("packaging", "产品包装"))


class SurveyTemplate(Base):
    """A questionnaire (调查问卷): named list of items. Company data, not customer information."""

    __tablename__ = "survey_templates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    items: Mapped[list["SurveyItem"]] = relationship(cascade="all, delete-orphan", order_by="SurveyItem.position",
                                                     lazy="selectin")


class SurveyItem(Base):
    """One item of a questionnaire (e.g. 服务质量), answered on the five levels."""

    __tablename__ = "survey_items"
    __table_args__ = (UniqueConstraint("template_id", "code"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("survey_templates.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    code: Mapped[str] = mapped_column(String(30), nullable=False)
    label: Mapped[str] = mapped_column(String(60), nullable=False)


class Survey(Base):
    """A questionnaire sent to one customer, and once answered its overall score."""

    __tablename__ = "surveys"
    __entity__ = "survey"

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered, bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True,
                                      why="surveyed customer")
    template_id: Mapped[str] = system(ForeignKey("survey_templates.id"), nullable=False,
                                      why="questionnaire sent")
    complaint_id: Mapped[str | None] = system(ForeignKey("complaints.id", ondelete="SET NULL"), unique=True,
                                              why="complaint whose handling is evaluated (one survey each)")
    trigger: Mapped[str] = field("调查起因", level=3, category="management", kind="choice", choices=TRIGGERS,
                                 length=12, writable=False, nullable=False)
    status: Mapped[str] = field("调查状态", level=3, category="management", kind="choice", choices=SURVEY_STATUSES,
                                length=10, writable=False, nullable=False, default="sent")
    sent_on: Mapped[date] = field("发送日期", level=3, category="management", kind="date", writable=False,
                                  nullable=False)
    answered_on: Mapped[date | None] = field("答复日期", level=3, category="management", kind="date",
                                             writable=False)
    overall_score: Mapped[Decimal | None] = field("总体评分", level=2, category="transaction", kind="decimal",
                                                  writable=False, help="各项评分的平均值（5=非常满意 … 1=非常不满意）")
    comment: Mapped[str | None] = field("客户意见", level=2, category="transaction", length=2000)
    created_by: Mapped[str | None] = system(String(32), why="user who sent the survey")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="sending time")

    answers: Mapped[list["SurveyAnswer"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class SurveyAnswer(Base):
    """The customer's score of one questionnaire item."""

    __tablename__ = "survey_answers"
    __entity__ = "survey_answer"
    __customer_link__ = ("survey_id", "survey")
    __table_args__ = (UniqueConstraint("survey_id", "item_id"),)

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    survey_id: Mapped[str] = system(ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False,
                                    why="survey answered")
    item_id: Mapped[str] = system(ForeignKey("survey_items.id"), nullable=False, why="questionnaire item scored")
    score: Mapped[int] = field("评分", level=2, category="transaction", kind="int", nullable=False,
                               help="5=非常满意，4=满意，3=一般，2=不满意，1=非常不满意")
