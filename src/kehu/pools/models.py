"""Relationship rules (pool and return-visit settings) and the pool ledger.

`relationship_settings` holds company rules (not customer data, plain table). `pool_entries` records
each stay of a customer in the public pool; it refers to customers, so every column is declared.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kehu.catalog.spec import system
from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["RelationshipSetting", "PoolEntry"]


class RelationshipSetting(Base):
    """One configurable rule (e.g. `recycle_days.key` = 90). Missing keys take the defaults of pools.rules."""

    __tablename__ = "relationship_settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class PoolEntry(Base):
    """One stay of a customer in the public pool (公海): when and from whom it came, who claimed it."""

    __tablename__ = "pool_entries"
    __table_args__ = (Index("ix_pool_entries_customer", "customer_id", "pooled_at"),
                      Index("ix_pool_entries_open", "claimed_at", "pooled_at"))

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="customer in the pool")
    previous_owner_id: Mapped[str | None] = system(String(32), why="owner before recycling (cooldown)")
    pooled_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="time of recycling")
    last_contact_on: Mapped[str | None] = system(String(10), why="last contact date used by the rule")
    rule_days: Mapped[int | None] = system(Integer, why="N days of the customer's class at recycling")
    claimed_by: Mapped[str | None] = system(String(32), why="user who claimed it (NULL while in the pool)")
    claimed_at: Mapped[datetime | None] = system(UTCDateTime, why="time of claiming")
