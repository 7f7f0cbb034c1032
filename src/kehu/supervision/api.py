"""JSON API of `kehu.supervision`: alerts, alarm rules, scans and the security check report."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from kehu.customers.api import Api
from kehu.supervision import report, service
from kehu.supervision.scan import Worker

router = APIRouter(prefix="/api/v1", tags=["supervision 报警与安全检查"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def install(kehu) -> None:
    """Start the background scanner, woken after audit commits (one per runtime)."""
    if getattr(kehu, "alarm_worker", None) is None:
        kehu.alarm_worker = Worker(kehu).start()


class Note(BaseModel):
    """A handling note."""

    model_config = ConfigDict(extra="forbid")
    note: Optional[str] = Field(default=None, max_length=2000)


class WorkingHours(BaseModel):
    """Working hours of the off-hours rule (Beijing time)."""

    model_config = ConfigDict(extra="forbid")
    start: str = Field(max_length=5)
    end: str = Field(max_length=5)
    weekend: list[int] = Field(max_length=7)
    holidays: list[str] = Field(default_factory=list, max_length=400)
    workdays: list[str] = Field(default_factory=list, max_length=400)


class RuleUpdate(BaseModel):
    """New settings of one alarm rule."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool
    limit: int
    window_minutes: int
    lock: bool = False
    params: Optional[WorkingHours] = None


@router.get("/alerts")
def list_alerts(call: Api, status: Optional[Literal["open", "acknowledged", "closed"]] = None,
                rule: Annotated[Optional[str], Query(max_length=30)] = None,
                user: Annotated[Optional[str], Query(max_length=60)] = None,
                before: Annotated[Optional[str], Query(max_length=32)] = None,
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    """Alerts newest first (read_alerts)."""
    return call.run("alarm.list", lambda s, ctx: service.list_alerts(
        s, ctx, status=status, rule=rule, user=user, before=before, limit=limit))


@router.get("/alerts/{alert_id}")
def get_alert(call: Api, alert_id: str) -> dict:
    """One alert with the audit entries that raised it."""
    return call.run("alarm.read", lambda s, ctx: service.get_alert(s, ctx, alert_id=alert_id), target=alert_id)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(call: Api, alert_id: str, payload: Note) -> dict:
    """open → acknowledged."""
    return call.run("alarm.acknowledge", lambda s, ctx: service.acknowledge(
        s, ctx, alert_id=alert_id, note=payload.note), target=alert_id)


@router.post("/alerts/{alert_id}/close")
def close(call: Api, alert_id: str, payload: Note) -> dict:
    """→ closed, with a mandatory note."""
    return call.run("alarm.close", lambda s, ctx: service.close(s, ctx, alert_id=alert_id, note=payload.note),
                    target=alert_id)


@router.get("/alarm-rules")
def list_rules(call: Api) -> dict:
    """Every alarm rule with its settings."""
    return call.run("alarm.rules", lambda s, ctx: service.list_rules(s, ctx))


@router.put("/alarm-rules/{code}")
def update_rule(call: Api, code: str, payload: RuleUpdate) -> dict:
    """Change a rule (manage_alarms)."""
    params = payload.params.model_dump() if payload.params else None
    return call.run("alarm.rule.update", lambda s, ctx: service.update_rule(
        s, ctx, code=code, enabled=payload.enabled, limit=payload.limit, window_minutes=payload.window_minutes,
        lock=payload.lock, params=params), target=code)


@router.post("/alarms/scan")
def scan(call: Api) -> dict:
    """Evaluate the rules now over the entries not yet scanned (manage_alarms)."""
    return call.run("alarm.scan", lambda s, ctx: service.run_scan(s, ctx))


@router.get("/security-report")
def security_report(call: Api, since: datetime, until: datetime, verify: bool = True) -> dict:
    """The security check report for a period (read_audit); `verify=false` skips the chain walk."""
    return call.run("supervision.report", lambda s, ctx: report.build(
        s, ctx, since=_utc(since), until=_utc(until), verify=verify))


@router.get("/security-report.xlsx")
def security_report_xlsx(call: Api, since: datetime, until: datetime) -> Response:
    """The same report as an Excel workbook."""
    data = call.run("supervision.report", lambda s, ctx: report.to_xlsx(
        report.build(s, ctx, since=_utc(since), until=_utc(until))))
    return Response(data, media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="security-report.xlsx"'})


def _utc(moment: datetime) -> datetime:
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
