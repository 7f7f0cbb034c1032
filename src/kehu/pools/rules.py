"""The configurable relationship rules: pool recycling, claiming, return-visit plans, care reminders.

Rules are per customer class. Grades (A/B/C/D) do not exist yet, so the class is the customer's
importance (normal/core/key); a later grading scheme plugs in through `customer_class()`.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.pools.models import RelationshipSetting

CLASSES = ("normal", "core", "key")
#: key → (default, label). 0 days switches a per-class rule off.
SETTINGS: dict[str, tuple[int, str]] = {
    "recycle_days.normal": (30, "普通客户：超过N天未跟进回收至公海（0=不回收）"),
    "recycle_days.core": (60, "核心客户：超过N天未跟进回收至公海（0=不回收）"),
    "recycle_days.key": (90, "重要客户：超过N天未跟进回收至公海（0=不回收）"),
    "warning_days": (7, "回收前提前N天提醒负责人"),
    "private_cap": (50, "每人私海客户上限"),
    "cooldown_days": (30, "前负责人在回收后N天内不能重新领取"),
    "visit_days.normal": (0, "普通客户：每N天回访一次（0=无回访计划）"),
    "visit_days.core": (60, "核心客户：每N天回访一次（0=无回访计划）"),
    "visit_days.key": (30, "重要客户：每N天回访一次（0=无回访计划）"),
    "care_days_ahead": (7, "生日/纪念日提前N天提醒"),
}
MAX_VALUE = 3650


def customer_class(customer) -> str:
    """The class the per-class rules use (today: importance)."""
    return customer.importance or "normal"


def load(session: Session) -> dict[str, int]:
    """Every rule: stored values over the defaults."""
    values = {k: d for k, (d, _label) in SETTINGS.items()}
    for key, value in session.execute(select(RelationshipSetting.key, RelationshipSetting.value)):
        if key in values:
            values[key] = value
    return values
