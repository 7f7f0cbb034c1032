"""Tables of `kehu.consent`: purposes, versioned privacy notices, consent records and the current state."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kehu.catalog.spec import field, system
from kehu.customers.models import CHANNELS
from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["ConsentPurpose", "PrivacyNotice", "ConsentRecord", "ConsentState"]

#: Item of the consent state that stands for the separate consent to level-1 (sensitive) information.
SENSITIVE = "sensitive"
ACTIONS = (("grant", "授予同意"), ("withdraw", "撤回同意"))
YES_NO = (("yes", "是"), ("no", "否"))
GUARDIAN_RELATIONS = (("father", "父亲"), ("mother", "母亲"), ("grandparent", "祖父母/外祖父母"),
                      ("guardian", "其他法定监护人"))
#: Purposes seeded by the migration (an administrator adds or retires purposes later).
DEFAULT_PURPOSES = (("service", "客户服务"), ("contract", "合同履行"), ("marketing", "营销推广"),
                    ("survey", "满意度调查"))


class ConsentPurpose(Base):
    """A processing purpose (处理目的) a customer can consent to; the list is configurable."""

    __tablename__ = "consent_purposes"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class PrivacyNotice(Base):
    """One published version of the privacy notice (隐私政策) shown at collection; never edited."""

    __tablename__ = "privacy_notices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(32))


class ConsentRecord(Base):
    """One grant or withdrawal of consent by a customer (append-only): purposes, scope, channel, notice, guardian."""

    __tablename__ = "consent_records"
    __entity__ = "consent"
    __table_args__ = (Index("ix_consent_records_customer", "customer_id", "recorded_at"),)

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="customer who gave or withdrew consent")
    action: Mapped[str] = field("同意操作", level=3, category="management", kind="choice", choices=ACTIONS,
                                length=10, nullable=False, writable=False)
    purposes: Mapped[str | None] = field("处理目的", level=2, category="management", length=400, writable=False,
                                         help="目的代码，逗号分隔")
    scope: Mapped[str | None] = field("信息范围", level=2, category="management", length=200, writable=False,
                                      help="信息类别代码，逗号分隔")
    sensitive: Mapped[str] = field("敏感个人信息单独同意", level=2, category="management", kind="choice",
                                   choices=YES_NO, length=3, nullable=False, writable=False)
    channel: Mapped[str | None] = field("收集渠道", level=3, category="management", kind="choice",
                                        choices=CHANNELS, length=20, writable=False)
    notice_version: Mapped[str | None] = field("隐私政策版本", level=3, category="management", length=20,
                                               writable=False)
    guardian_name: Mapped[bytes | None] = field("监护人姓名", level=2, category="identity", mask="name",
                                                encrypt=True, length=60, writable=False)
    guardian_relation: Mapped[str | None] = field("与监护人关系", level=2, category="identity", kind="choice",
                                                  choices=GUARDIAN_RELATIONS, length=12, writable=False)
    note: Mapped[str | None] = field("说明", level=2, category="management", length=500, writable=False,
                                     help="撤回原因或录入说明")
    source: Mapped[str | None] = system(String(60), why="where the record came from (staff, intake:<id>, import)")
    recorded_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow,
                                           why="time consent was given or withdrawn")
    recorded_by: Mapped[str | None] = system(String(32), why="user who recorded it (none for public channels)")


class ConsentState(Base):
    """Current consent per customer and purpose (and `sensitive`), kept in step with the records: one lookup."""

    __tablename__ = "consent_state"
    __table_args__ = (Index("ix_consent_state_item", "item", "granted", "customer_id"),)

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    item: Mapped[str] = mapped_column(String(30), primary_key=True)  # purpose code or SENSITIVE
    granted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    record_id: Mapped[str] = mapped_column(String(32), nullable=False)
