"""Report periods: a year (2026), a quarter (2026-Q3) or a month (2026-07); the previous one of equal length."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from kehu.errors import FieldError

_PATTERN = re.compile(r"^(\d{4})(?:-(?:Q(\d)|(\d{2})))?$")
FIRST_YEAR, LAST_YEAR = 2000, 2100
FORMAT_HELP = "统计期间格式应为年（2026）、季度（2026-Q3）或月份（2026-07）"


@dataclass(frozen=True)
class Period:
    """Whole calendar months [start, end) with a label."""

    label: str
    start: date
    end: date  # exclusive

    @property
    def months(self) -> tuple[str, str]:
        """('YYYY-MM' of the first month, 'YYYY-MM' of the month after the last)."""
        return f"{self.start:%Y-%m}", f"{self.end:%Y-%m}"

    @property
    def length(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    def previous(self) -> Period:
        """The period of the same length just before."""
        start = _add_months(self.start, -self.length)
        if self.length == 12:
            label = f"{start.year}"
        elif self.length == 3:
            label = f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        else:
            label = f"{start:%Y-%m}"
        return Period(label, start, self.start)

    def as_dict(self) -> dict[str, str]:
        return {"label": self.label, "start": self.start.isoformat(), "end": (self.end - timedelta(days=1)).isoformat()}


def _add_months(day: date, months: int) -> date:
    n = day.year * 12 + day.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


def current_quarter(today: date) -> Period:
    """The quarter containing `today`."""
    q = (today.month - 1) // 3 + 1
    start = date(today.year, 3 * q - 2, 1)
    return Period(f"{today.year}-Q{q}", start, _add_months(start, 3))


def parse(text: str | None, *, today: date) -> tuple[Period | None, FieldError | None]:
    """The period named by `text` (default: the current quarter), or the field error explaining why not."""
    if text is None or text == "":
        return current_quarter(today), None
    m = _PATTERN.match(text.strip())
    if not m:
        return None, FieldError("period", "period_format", FORMAT_HELP)
    year = int(m.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return None, FieldError("period", "period_year", f"年份应在{FIRST_YEAR}至{LAST_YEAR}之间")
    if m.group(2):
        q = int(m.group(2))
        if not 1 <= q <= 4:
            return None, FieldError("period", "period_quarter", "季度应为 Q1 至 Q4")
        start = date(year, 3 * q - 2, 1)
        return Period(f"{year}-Q{q}", start, _add_months(start, 3)), None
    if m.group(3):
        month = int(m.group(3))
        if not 1 <= month <= 12:
            return None, FieldError("period", "period_month", "月份应为 01 至 12")
        start = date(year, month, 1)
        return Period(f"{start:%Y-%m}", start, _add_months(start, 1)), None
    return Period(str(year), date(year, 1, 1), date(year + 1, 1, 1)), None


def parse_day(text: str | None, name: str, *, default: date) -> tuple[date | None, FieldError | None]:
    """A day 'YYYY-MM-DD' (default when absent) within the supported years, or the field error."""
    if text is None or text == "":
        return default, None
    try:
        day = date.fromisoformat(text.strip()) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()) else None
    except ValueError:
        day = None
    if day is None:
        return None, FieldError(name, "date_invalid", "日期应为有效的 YYYY-MM-DD")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        return None, FieldError(name, "date_range", f"日期应在{FIRST_YEAR}至{LAST_YEAR}年之间")
    return day, None
