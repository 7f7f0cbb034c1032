"""The scheduled full evaluation of tags, grades, stars and RFM, run by `kehu serve` itself.

A full evaluation is due at the start of every period of the tag settings' `schedule` (`period`: quarterly —
SPEC §6's default —, monthly, weekly, daily or off; `hour`: the hour of company time it starts), i.e. when the
last full evaluation (`tag_settings.last_full_evaluation`, from the command line or this schedule) is older than
the latest period start. A store never evaluated is due at once, and so is one whose server was down over a
period start: the missed run is made up once. The run is a `kehu.ops.schedule.Periodic` thread in one
process per var directory (its lock file); inside its write transaction it checks again that the evaluation is
still due (on PostgreSQL under an advisory lock), so servers on other hosts sharing the store do not run it
twice. Each run, and each `kehu tags evaluate`, leaves an audit entry `tag.evaluate` with its counts.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from kehu.db import utcnow
from kehu.runtime import Kehu
from kehu.tags import builtin

log = logging.getLogger("kehu.tags")
#: schedule periods and their names in the UI
PERIODS: dict[str, str] = {"quarterly": "每季度", "monthly": "每月", "weekly": "每周", "daily": "每天", "off": "不自动评估"}
#: PostgreSQL advisory lock key of the scheduled evaluation (any constant: "kehu tag" in ASCII)
_PG_LOCK = 0x6B65687520746167 & 0x7FFFFFFFFFFFFFFF


def _tz():
    from kehu.web.i18n import local_tz  # the company's time zone (the UI's)
    return local_tz()


def _period_start(day: date, period: str) -> date:
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)  # quarterly


def _previous_start(start: date, period: str) -> date:
    if period == "daily":
        return start - timedelta(days=1)
    if period == "weekly":
        return start - timedelta(days=7)
    return _period_start(start - timedelta(days=1), period)


def _next_start(start: date, period: str) -> date:
    months = {"monthly": 1, "quarterly": 3}.get(period)
    if months is None:
        return start + timedelta(days=1 if period == "daily" else 7)
    m = start.month - 1 + months
    return date(start.year + m // 12, m % 12 + 1, 1)


def slots(now: datetime, period: str, hour: int) -> tuple[datetime, datetime] | None:
    """The scheduled start at or before `now` and the next one after it (UTC), or None when `period` is off."""
    if period not in PERIODS or period == "off":
        return None
    tz = _tz()
    at = lambda d: datetime.combine(d, time(hour), tz).astimezone(timezone.utc)  # noqa: E731
    start = _period_start(now.astimezone(tz).date(), period)
    if at(start) > now:
        start = _previous_start(start, period)
    return at(start), at(_next_start(start, period))


def last_evaluation(conf: dict[str, Any]) -> datetime | None:
    """When the last full evaluation ran (UTC), from the settings of `builtin.settings`."""
    at = (conf["stored"].get("last_full_evaluation") or {}).get("at")
    if not at:
        return None
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def status(conf: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The schedule as configured, whether a run is due now, and when the next one is (None when due or off)."""
    now = now or utcnow()
    sched = conf["schedule"]
    got = slots(now, sched["period"], int(sched["hour"]))
    last = last_evaluation(conf)
    if got is None:
        return {**sched, "due": False, "next": None, "last": last}
    latest, following = got
    due = last is None or last < latest
    return {**sched, "due": due, "next": None if due else following, "last": last}


def due_in(kehu: Kehu, now: datetime | None = None) -> float:
    """Seconds until the next scheduled evaluation (0: due now; a minute's poll when the schedule is off)."""
    now = now or utcnow()
    with kehu.db.reader() as session:
        st = status(builtin.settings(session), now)
    if st["due"]:
        return 0.0
    return 3600.0 if st["next"] is None else max(1.0, (st["next"] - now).total_seconds())


def summary(stats: dict[str, Any]) -> dict[str, Any]:
    """A full evaluation's figures in totals (`last_full_evaluation` or `evaluate_all`'s result): when, customers,
    rules, tags gained and lost over all rules, grades written, seconds of its phases."""
    changes = stats["changes"].values()
    return {"as_of": stats["as_of"], "at": stats["at"], "customers": stats["customers"], "rules": stats["rules"],
            "gained": sum(c["gained"] for c in changes), "lost": sum(c["lost"] for c in changes),
            "grades_written": stats.get("grades_written"),
            "seconds": round(sum(v for k, v in (stats.get("seconds") or {}).items() if "." not in k), 1)}


def evaluate_recorded(kehu: Kehu, session: Session, *, as_of: date, trigger: str, actor: str,
                      progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """A full evaluation in `session`'s transaction with its audit entry `tag.evaluate` (counts, no customer)."""
    from kehu.tags import engine

    stats = engine.evaluate_all(session, kehu.catalog(session), as_of=as_of, trigger=trigger, progress=progress)
    totals = {k: v for k, v in summary(stats).items() if k != "at"}  # (the entry has its own time)
    kehu.audit.stage(session, action="tag.evaluate", actor_name=actor, target_type="tag_evaluation",
                     detail={"trigger": trigger, **totals})
    return stats


def run_due(kehu: Kehu, now: datetime | None = None) -> dict[str, Any] | None:
    """Run the full evaluation if it is due (checked again inside the write transaction); its stats, or None."""
    from kehu.tags.service import today

    with kehu.db.transaction() as session:
        if kehu.db.dialect == "postgresql":  # servers on other hosts: one evaluation, the others see it done
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        if not status(builtin.settings(session), now or utcnow())["due"]:
            return None
        stats = evaluate_recorded(kehu, session, as_of=today(), trigger="schedule", actor="scheduler")
    log.info("scheduled tag evaluation: %s customers, %s rules", stats["customers"], stats["rules"])
    return stats


def install(kehu: Kehu):
    """Start the schedule's thread (`KEHU_TAG_SCHEDULE`, on by default)."""
    if not kehu.settings.tag_schedule:
        return None
    from kehu.ops.schedule import Periodic

    return Periodic("tag-evaluation", lock=kehu.settings.var_dir / ".tag-evaluation.lock",
                    due_in=lambda: due_in(kehu), run=lambda: run_due(kehu), retry=3600.0).start()
