"""Administrator overrides of the declared catalogue (level raised, masking changed)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime, utcnow


class CatalogOverride(Base):
    """An administrator's change to one field's level or masking rule."""

    __tablename__ = "catalog_overrides"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # "entity.field"
    level: Mapped[int | None] = mapped_column(Integer)
    mask: Mapped[str | None] = mapped_column(String(20))
    changed_by: Mapped[str] = mapped_column(String(32), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)


class SecurityEpoch(Base):
    """A counter bumped by every change to grants, roles, users or the catalogue.

    Each request reads it with the caller's token; when it moved, cached policy is rebuilt,
    so a revoked right is denied on the very next request.
    """

    __tablename__ = "security_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
