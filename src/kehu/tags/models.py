"""Tables of `kehu.tags`: catalogue, rule versions, applied tags, history, reviews, settings, quality, grades, segments.

Applied tags and grades are derived from customer data; they carry references and small derived
figures, never a copy of a customer's field value (a tag says "高收入", not the income).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["Tag", "TagRule", "CustomerTag", "TagHistory", "TagReview", "TagSetting", "TagQualitySnapshot",
           "CustomerGrade", "Segment"]

FAMILIES = (("basic", "基础属性"), ("behaviour", "行为特征"), ("preference", "偏好"), ("value", "价值"))
RULE_STATUSES = (("draft", "草稿"), ("reviewed", "已审核"), ("active", "生效"), ("retired", "已停用"))


class Tag(Base):
    """A tag of the catalogue: family, name, description, owner department, rule-based or manual."""

    __tablename__ = "tags"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    family: Mapped[str] = mapped_column(String(12), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    mode: Mapped[str] = mapped_column(String(8), nullable=False, default="rule")  # rule | manual
    exclusive_group: Mapped[str | None] = mapped_column(String(30))  # at most one tag of a group per customer
    contradiction: Mapped[str | None] = mapped_column(Text)  # rule text: a holder matching it is flagged
    builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    usage_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class TagRule(Base):
    """One version of a tag's rule, through draft → reviewed → active → retired."""

    __tablename__ = "tag_rules"
    __table_args__ = (UniqueConstraint("tag_id", "version"), Index("ix_tag_rules_status", "status", "tag_id"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    expression: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="draft")
    note: Mapped[str | None] = mapped_column(String(500))
    author_id: Mapped[str | None] = mapped_column(String(32))
    reviewed_by: Mapped[str | None] = mapped_column(String(32))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_by: Mapped[str | None] = mapped_column(String(32))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CustomerTag(Base):
    """A tag a customer holds now: from a rule version or assigned by hand."""

    __tablename__ = "customer_tags"
    # SQLite: the rows live in the key's B-tree (no rowid table beside it; migration 0023)
    __table_args__ = (Index("ix_customer_tags_tag", "tag_id", "customer_id"), {"sqlite_with_rowid": False})

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(8), nullable=False)  # rule | manual
    rule_version: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    assigned_by: Mapped[str | None] = mapped_column(String(32))


class TagHistory(Base):
    """A tag gained or lost by a customer: when, by which rule version or person, why."""

    __tablename__ = "tag_history"
    __table_args__ = (Index("ix_tag_history_customer", "customer_id", "seq"), Index("ix_tag_history_tag", "tag_id", "at"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), nullable=False)
    change: Mapped[str] = mapped_column(String(6), nullable=False)  # gained | lost
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    rule_version: Mapped[int | None] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(40), nullable=False)  # full | event name | manual | activation
    actor_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500))


class TagReview(Base):
    """One sampled manual check of an applied tag (SPEC §6 error rate)."""

    __tablename__ = "tag_reviews"
    __table_args__ = (Index("ix_tag_reviews_tag", "tag_id", "reviewed_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tag_id: Mapped[str] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), nullable=False)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(500))
    sampled_by: Mapped[str | None] = mapped_column(String(32))
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    reviewed_by: Mapped[str | None] = mapped_column(String(32))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TagSetting(Base):
    """A tagging/grading setting or a stored figure of the last full evaluation (JSON text)."""

    __tablename__ = "tag_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class TagQualitySnapshot(Base):
    """The tag quality figures too costly to count on every view of the dashboard, as computed at one moment.

    Per tag (by id): holders, tag changes in the 30 days before `computed_at`, holders contradicting the data;
    the customers not archived; per exclusive group, the customers holding two of its tags. Written by a full
    evaluation (`trigger` "evaluate") or a check (立即检查, "check", by `actor_id`; none from the command line).
    Counts only: no customer id or value, so nothing here belongs in the catalogue, a data subject's copy or
    an erasure (those follow `customer_id`). The newest few rows are kept (`quality_snapshot.KEEP`), not one:
    a check reads in its own transaction and may finish after a full evaluation that started later, so the
    dashboard reads the row with the newest `computed_at`, never simply the last written.
    """

    __tablename__ = "tag_quality_snapshots"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # the moment the counts describe
    as_of: Mapped[date] = mapped_column(Date, nullable=False)  # the day the contradiction rules were applied for
    trigger: Mapped[str] = mapped_column(String(10), nullable=False)  # evaluate | check
    actor_id: Mapped[str | None] = mapped_column(String(32))
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    customers: Mapped[int] = mapped_column(Integer, nullable=False)
    tags: Mapped[str] = mapped_column(Text, nullable=False)  # JSON {tag id: [holders, changes, contradictions]}
    groups: Mapped[str] = mapped_column(Text, nullable=False)  # JSON [[group, customers], …]: conflicts only


class CustomerGrade(Base):
    """A customer's value grade, stars, RFM scores and the figures that explain them."""

    __tablename__ = "customer_grades"
    __table_args__ = (Index("ix_customer_grades_grade", "grade", "customer_id"), {"sqlite_with_rowid": False})

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    grade: Mapped[str | None] = mapped_column(String(1))
    stars: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    r: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    f: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    m: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    spend_q: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False, default=0)
    freq_q: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    spend_y: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False, default=0)
    freq_y: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_purchase: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vip: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    potential: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Segment(Base):
    """A saved filter (rule expression over tags, grades, fields and aggregates)."""

    __tablename__ = "segments"
    __table_args__ = (Index("uq_segments_owner_name", "owner_id", "name", unique=True),)  # names are per user

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    expression: Mapped[str] = mapped_column(Text, nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
