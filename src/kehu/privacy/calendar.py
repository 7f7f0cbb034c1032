"""Working days for deadlines: Monday–Friday, except public holidays, plus adjusted working days (调休).

The exceptions live in `privacy_calendar`, seeded with the State Council's 2026 schedule and edited by
an administrator each year when the next notice is published (docs/privacy.md).
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.privacy.models import CalendarDay

#: PIPL practice and GB/T 35273-2020 §8.7: answer a rights request within 15 working days
DEFAULT_WORKING_DAYS = 15


def exceptions(session: Session, start: date, end: date) -> dict[date, str]:
    """Holiday / workday overrides between two dates (inclusive)."""
    rows = session.execute(select(CalendarDay.day, CalendarDay.kind).where(CalendarDay.day.between(start, end)))
    return {d: k for d, k in rows}


def is_working_day(day: date, overrides: dict[date, str]) -> bool:
    """Whether staff work on that day under the calendar."""
    kind = overrides.get(day)
    if kind == "holiday":
        return False
    if kind == "workday":
        return True
    return day.weekday() < 5


def add_working_days(session: Session, start: date, days: int = DEFAULT_WORKING_DAYS) -> date:
    """The date `days` working days after `start` (the day of receipt does not count)."""
    overrides = exceptions(session, start, start + timedelta(days=days * 3 + 30))
    current, left = start, days
    while left:
        current += timedelta(days=1)
        if is_working_day(current, overrides):
            left -= 1
    return current
