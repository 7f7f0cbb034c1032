"""The built-in alarm rules: their defaults, the supervisor's settings, and which audit entries each one counts.

Every rule is a filter over `audit_log` plus a count per subject (the acting user) per window; the
windowed counts run in SQL on both engines (`scan.py`). Windows are fixed periods of
`window_minutes` aligned on Beijing time (UTC+8): with 60 minutes, 10:00–11:00, 11:00–12:00 …
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Integer, String, and_, case, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from kehu.audit.models import AuditEntry
from kehu.catalog.registry import Catalog
from kehu.errors import FieldError, ValidationFailed
from kehu.supervision.models import AlarmRule

TZ_NAME = "Asia/Shanghai"
TZ_HOURS = 8  # Asia/Shanghai has kept UTC+8 without daylight saving since 1991
LOG = AuditEntry.__table__.c


@dataclass(frozen=True)
class Rule:
    """One rule with its effective settings."""

    code: str
    enabled: bool
    limit: int  # alert when the count in one window is above this (dormant: days without activity)
    window_minutes: int
    lock: bool = False
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON form."""
        return {"code": self.code, "name": NAMES[self.code], "enabled": self.enabled, "limit": self.limit,
                "window_minutes": self.window_minutes, "lock": self.lock, "params": self.params}


WORKING_HOURS = {"start": "08:00", "end": "20:00", "weekend": [6, 7], "holidays": [], "workdays": []}
DEFAULTS: dict[str, Rule] = {r.code: r for r in (
    Rule("level1_reveals", True, 20, 60),
    Rule("records_viewed", True, 200, 60),
    Rule("export_burst", True, 5, 60),
    Rule("off_hours", True, 0, 1440, params=dict(WORKING_HOURS)),
    Rule("denied_attempts", True, 10, 60),
    Rule("dormant_active", True, 30, 1440),
)}
NAMES = {
    "level1_reveals": "一级信息明文查看过多",
    "records_viewed": "查看客户档案过多",
    "export_burst": "集中导出",
    "off_hours": "非工作时间访问",
    "denied_attempts": "多次被拒绝的访问或登录失败",
    "dormant_active": "长期未用账户突然活动",
}
#: rules whose count is one event, not a windowed count (bucket = the triggering seq)
ONE_OFF = ("dormant_active",)


def effective(session: Session) -> dict[str, Rule]:
    """Every rule with the supervisor's settings applied over its defaults."""
    rows = {r.code: r for r in session.execute(select(AlarmRule)).scalars()}
    out = {}
    for code, rule in DEFAULTS.items():
        row = rows.get(code)
        out[code] = rule if row is None else replace(
            rule, enabled=row.enabled, limit=row.limit, window_minutes=row.window_minutes, lock=row.lock,
            params={**rule.params, **json.loads(row.params or "{}")})
    return out


def checked(code: str, *, enabled: bool, limit: int, window_minutes: int, lock: bool,
            params: dict | None) -> Rule:
    """A rule's new settings, every bad field named."""
    if code not in DEFAULTS:
        raise ValidationFailed([FieldError("code", "not_found", "报警规则不存在")])
    errors = []
    if not isinstance(limit, int) or not 0 <= limit <= 1_000_000:
        errors.append(FieldError("limit", "out_of_range", "阈值须为 0 至 1000000 的整数"))
    if not isinstance(window_minutes, int) or not 1 <= window_minutes <= 10080:
        errors.append(FieldError("window_minutes", "out_of_range", "统计时段须为 1 至 10080 分钟"))
    merged = dict(DEFAULTS[code].params)
    if code == "off_hours":
        merged.update(params or {})
        errors += _hours_errors(merged)
    if errors:
        raise ValidationFailed(errors)
    return Rule(code, bool(enabled), limit, window_minutes, bool(lock), merged)


def _hours_errors(p: dict) -> list[FieldError]:
    errors = []
    for key in ("start", "end"):
        text = str(p.get(key, ""))
        if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", text):
            errors.append(FieldError(key, "invalid_time", "时间格式应为 HH:MM，如 08:30"))
    if not errors and p["start"] >= p["end"]:
        errors.append(FieldError("end", "invalid_range", "下班时间须晚于上班时间"))
    if not isinstance(p.get("weekend"), list) or any(d not in range(1, 8) for d in p["weekend"]):
        errors.append(FieldError("weekend", "invalid_choice", "休息日须为 1（周一）至 7（周日）"))
    for key in ("holidays", "workdays"):
        try:
            p[key] = sorted({date.fromisoformat(str(d)).isoformat() for d in p.get(key) or []})
        except ValueError:
            errors.append(FieldError(key, "invalid_date", "日期格式应为 YYYY-MM-DD"))
    return errors


# --- SQL: what each rule counts ------------------------------------------------------------------

def epoch_seconds(col, dialect: str):
    """Seconds since 1970-01-01 UTC of a timestamp column, as a number."""
    if dialect == "sqlite":
        return (func.julianday(col) - 2440587.5) * 86400.0
    return func.extract("epoch", col)


def bucket(col, minutes: int, dialect: str):
    """Number of the fixed window (aligned on Beijing time) a timestamp falls in."""
    value = (epoch_seconds(col, dialect) + TZ_HOURS * 3600) / (minutes * 60)
    return cast(value if dialect == "sqlite" else func.floor(value), Integer)


def _local(col, dialect: str):
    """(HH:MM, ISO weekday 1–7, YYYY-MM-DD) of a timestamp in Beijing time."""
    if dialect == "sqlite":
        shift = f"+{TZ_HOURS} hours"
        dow = cast(func.strftime("%w", col, shift), Integer)  # 0 = Sunday
        return func.strftime("%H:%M", col, shift), dow, func.date(col, shift)
    local = func.timezone(TZ_NAME, col)
    return func.to_char(local, "HH24:MI"), cast(func.extract("isodow", local), Integer), \
        func.to_char(local, "YYYY-MM-DD")


def calendar_days(kind: str, dialect: str):
    """The company calendar's days of a kind (`holiday` / `workday`) as 'YYYY-MM-DD' (a subquery): the one
    calendar the rights-request deadlines count with (`privacy_calendar`, seeded with the State Council's
    schedule), read when the rule runs, so an edit applies to the next scan."""
    from kehu.privacy.models import CalendarDay

    cal = CalendarDay.__table__
    text = cal.c.day if dialect == "sqlite" else func.to_char(cal.c.day, "YYYY-MM-DD")  # SQLite stores ISO text
    return select(text).where(cal.c.kind == kind)


def off_hours(col, params: dict, dialect: str):
    """True outside working hours, on a weekend that is no make-up workday, or on a holiday — the company
    calendar's, or one the rule adds (`holidays` / `workdays`: days of this company only)."""
    hm, dow, day = _local(col, dialect)
    weekend = [0 if d == 7 else d for d in params["weekend"]] if dialect == "sqlite" else params["weekend"]
    holiday = or_(day.in_(params["holidays"]), day.in_(calendar_days("holiday", dialect)))
    workday = or_(day.in_(params["workdays"]), day.in_(calendar_days("workday", dialect)))
    return or_(hm < params["start"], hm >= params["end"], holiday, and_(dow.in_(weekend), ~workday))


def level1_keys(catalog: Catalog) -> list[str]:
    """Keys of the fields at level 1 in the effective catalogue."""
    return sorted(k for k, spec in catalog.fields.items() if spec.level == 1)


def level1_fields(catalog: Catalog):
    """The entry names at least one level-1 field (fields is a comma-separated key list)."""
    padded = literal(",") + LOG.fields + literal(",")
    return or_(*(padded.like(f"%,{key},%") for key in level1_keys(catalog))) if level1_keys(catalog) else False


def subject():
    """Whom an entry is counted against: the user, or the address when no user is known."""
    return func.coalesce(LOG.actor_id, literal("ip:") + func.coalesce(LOG.ip, literal("-")))


def condition(rule: Rule, catalog: Catalog, dialect: str):
    """The entries a windowed rule counts."""
    ok = LOG.outcome == "ok"
    if rule.code == "level1_reveals":
        return and_(ok, LOG.action.like("%.reveal"), level1_fields(catalog))
    if rule.code == "export_burst":  # entries naming exported fields (request, start, finish of one export …)
        return and_(ok, LOG.action.like("export.%"), LOG.fields.is_not(None))
    if rule.code == "off_hours":
        return and_(ok, LOG.actor_id.is_not(None), LOG.action != "auth.logout",
                    off_hours(LOG.ts, rule.params, dialect))
    if rule.code == "denied_attempts":
        return LOG.outcome.in_(("denied", "failed"))
    if rule.code == "records_viewed":
        # every operation on an existing record shows it; creating one does not show anything held
        return and_(ok, LOG.actor_id.is_not(None), LOG.customer_no.is_not(None), LOG.action.not_like("%create"))
    raise KeyError(rule.code)


def item(rule: Rule):
    """What a windowed rule counts once: one export (its id) for export bursts, otherwise each entry."""
    if rule.code == "export_burst":
        return func.coalesce(LOG.target_id, literal("seq:") + cast(LOG.seq, String))
    return LOG.seq


def listed_records(dialect: str, lo: int, hi: int):
    """(seq, ts, actor_id, actor_name, subject, customer_no) per record shown in a list (detail.records)."""
    log = AuditEntry.__table__
    if dialect == "sqlite":
        items = func.json_each(log.c.detail, "$.records").table_valued("value").alias("j")
    else:
        doc = cast(log.c.detail, JSONB)["records"]
        safe = case((func.jsonb_typeof(doc) == "array", doc), else_=cast(literal("[]"), JSONB))
        items = func.jsonb_array_elements_text(safe).table_valued("value").alias("j")
    return (select(log.c.seq, log.c.ts, log.c.actor_id, log.c.actor_name, log.c.actor_id.label("subject"),
                   items.c.value.label("customer_no"))
            .select_from(log).join(items, literal(True))
            .where(log.c.seq > lo, log.c.seq <= hi, log.c.outcome == "ok", log.c.actor_id.is_not(None),
                   log.c.action.like("%.list"), log.c.detail.like('%"records": [%')))

