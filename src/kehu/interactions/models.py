"""Follow-up and communication tables. Every column is declared with its catalogue entry (catalog.spec)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped

from kehu.catalog.spec import field, system
from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["FollowUp", "Communication"]

METHODS = (("phone", "电话"), ("visit", "拜访"), ("email", "电子邮件"), ("wechat", "微信"), ("meeting", "会议"))
CHANNELS = (("meeting", "会议"), ("phone", "电话"), ("email", "电子邮件"))
INTENTS = (("strong", "合作意向强"), ("moderate", "有一定意向"), ("weak", "意向较弱"), ("none", "暂无意向"))


class FollowUp(Base):
    """A follow-up (跟进记录) of a customer: how, when, with whom, the result and the next date."""

    __tablename__ = "followups"
    __entity__ = "followup"
    __table_args__ = (
        Index("ix_followups_timeline", "customer_id", "followed_at", "id", "method"),  # method: covering for tag aggregates
        ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
    )

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered, bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="customer followed up")
    method: Mapped[str] = field("跟进方式", level=3, category="management", kind="choice", choices=METHODS,
                                length=10, nullable=False)
    followed_at: Mapped[str] = field("跟进时间", level=3, category="management", length=25, nullable=False,
                                     help="YYYY-MM-DD HH:MM（本地时间）")
    contact_id: Mapped[str | None] = field("联系人", level=2, category="identity", length=32,
                                           help="该客户的联系人（contacts 中的 id）")
    result: Mapped[str | None] = field("跟进结果", level=2, category="transaction", length=1000)
    notes: Mapped[str | None] = field("跟进备注", level=2, category="transaction", length=2000)
    next_followup_on: Mapped[date | None] = field("下次跟进日期", level=3, category="management", kind="date",
                                                  index=True)
    created_by: Mapped[str | None] = system(String(32), why="user who recorded the follow-up")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="recording time")


class Communication(Base):
    """Minutes of a communication (沟通纪要): date, channel, key points, cooperation intent."""

    __tablename__ = "communications"
    __entity__ = "communication"
    __table_args__ = (Index("ix_communications_timeline", "customer_id", "communicated_on", "id"),)

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered, bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="customer communicated with")
    communicated_on: Mapped[date] = field("沟通日期", level=3, category="management", kind="date", nullable=False)
    channel: Mapped[str] = field("沟通方式", level=3, category="management", kind="choice", choices=CHANNELS,
                                 length=10, nullable=False)
    key_points: Mapped[str] = field("沟通要点", level=2, category="transaction", length=4000, nullable=False)
    intent: Mapped[str | None] = field("合作意向", level=2, category="transaction", kind="choice",
                                       choices=INTENTS, length=10)
    created_by: Mapped[str | None] = system(String(32), why="user who recorded the minutes")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="recording time")
