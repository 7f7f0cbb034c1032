"""Web pages of `kehu.supervision`: alerts (list, detail, acknowledge, close), rule settings, the security report."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.models import SCOPES
from kehu.catalog.spec import ACTION_NAMES, ACTIONS
from kehu.errors import FieldError, ValidationFailed
from kehu.supervision import report, rules as R, service
from kehu.supervision.api import XLSX
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import local_tz, t
from kehu.web.session import Web

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
Text = Annotated[Optional[str], Query(max_length=60)]
Day = Annotated[Optional[str], Query(max_length=10)]


def nav(principal) -> list[tuple[str, str]]:
    """Menu entries: alerts for the supervision role, rules for who sets them, the report for 审计员."""
    items = []
    if principal.has("read_alerts"):
        items.append(("nav.alerts", "/supervision/alerts"))
    if principal.has("manage_alarms"):
        items.append(("nav.alarm_rules", "/supervision/rules"))
    if principal.has("read_audit"):
        items.append(("nav.security_report", "/supervision/report"))
    return items


@router.get("/supervision/alerts")
def alerts(call: Web, status: Annotated[Optional[str], Query(max_length=12)] = "open",
           rule: Annotated[Optional[str], Query(max_length=30)] = None, user: Text = None,
           before: Annotated[Optional[str], Query(max_length=32)] = None) -> Response:
    """Alerts newest first, filtered by status (default: open), rule and user."""
    result = call.run("alarm.list", lambda s, ctx: service.list_alerts(
        s, ctx, status=status or None, rule=rule or None, user=user or None, before=before))
    params = {k: v for k, v in {"status": status or "", "rule": rule, "user": user}.items() if v is not None}
    more = "/supervision/alerts?" + urlencode({**params, "before": result["next_before"]}) \
        if result["next_before"] else None
    return call.page("supervision/alerts.html", items=result["items"], more=more, params=params,
                     rules=list(R.NAMES.items()), statuses=service.STATUSES)


@router.get("/supervision/alerts/{alert_id}")
def alert(call: Web, alert_id: str) -> Response:
    """One alert, the audit entries behind it, and its handling."""
    item = call.run("alarm.read", lambda s, ctx: service.get_alert(s, ctx, alert_id=alert_id), target=alert_id)
    return call.page("supervision/alert.html", alert=item)


@router.post("/supervision/alerts/{alert_id}/acknowledge")
def acknowledge(call: Web, alert_id: str) -> Response:
    """open → acknowledged."""
    call.run("alarm.acknowledge", lambda s, ctx: service.acknowledge(
        s, ctx, alert_id=alert_id, note=call.value("note")), target=alert_id)
    return call.redirect(f"/supervision/alerts/{alert_id}?ok=alert_acknowledged")


@router.post("/supervision/alerts/{alert_id}/close")
def close(call: Web, alert_id: str) -> Response:
    """→ closed, with the mandatory note."""
    call.run("alarm.close", lambda s, ctx: service.close(s, ctx, alert_id=alert_id, note=call.value("note")),
             target=alert_id)
    return call.redirect(f"/supervision/alerts/{alert_id}?ok=alert_closed")


@router.get("/supervision/rules")
def rules(call: Web) -> Response:
    """Every rule with its settings (editable with manage_alarms)."""
    result = call.run("alarm.rules", lambda s, ctx: service.list_rules(s, ctx))
    return call.page("supervision/rules.html", rules=result["items"], manage=result["manage"])


def _number(call: Web, name: str) -> int:
    text = call.value(name).strip()
    if not text.isdigit():
        raise ValidationFailed([FieldError(name, "not_a_number", t("supervision.err_number"))])
    return int(text)


def _list(call: Web, name: str) -> list[str]:
    return [p for p in call.value(name).replace(chr(0xFF0C), ",").replace(" ", ",").split(",") if p]


@router.post("/supervision/rules/{code}")
def update_rule(call: Web, code: str) -> Response:
    """Save one rule's settings."""
    params = None
    if code == "off_hours":
        params = {"start": call.value("start"), "end": call.value("end"),
                  "weekend": [int(d) for d in call.values("weekend") if d.isdigit()],
                  "holidays": _list(call, "holidays"), "workdays": _list(call, "workdays")}
    call.run("alarm.rule.update", lambda s, ctx: service.update_rule(
        s, ctx, code=code, enabled=call.value("enabled") == "on", limit=_number(call, "limit"),
        window_minutes=_number(call, "window_minutes"), lock=call.value("lock") == "on", params=params),
        target=code)
    return call.redirect("/supervision/rules?ok=rule_saved")


def _period(since: str | None, until: str | None) -> tuple[date, date, datetime, datetime]:
    """The days asked for (default: the last 30 days) and their bounds in Beijing time."""
    try:
        last = date.fromisoformat(until) if until else datetime.now(local_tz()).date()
        first = date.fromisoformat(since) if since else last - timedelta(days=29)
    except ValueError:
        raise ValidationFailed([FieldError("since", "invalid_date", t("supervision.err_date"))]) from None
    start = datetime.combine(first, time(), tzinfo=local_tz())
    return first, last, start, datetime.combine(last + timedelta(days=1), time(), tzinfo=local_tz())


@router.get("/supervision/report")
def security_report(call: Web, since: Day = None, until: Day = None) -> Response:
    """The security check report of a period (审计员)."""
    first, last, start, end = _period(since, until)
    data = call.run("supervision.report", lambda s, ctx: report.build(s, ctx, since=start, until=end, verify=False))
    return call.page("supervision/report.html", report=data, since=first.isoformat(), until=last.isoformat(),
                     actions=ACTIONS, action_names=ACTION_NAMES, scopes=dict(SCOPES))


@router.get("/supervision/report.xlsx")
def security_report_xlsx(call: Web, since: Day = None, until: Day = None) -> Response:
    """The same report as an Excel workbook."""
    first, last, start, end = _period(since, until)
    data = call.run("supervision.report", lambda s, ctx: report.to_xlsx(report.build(s, ctx, since=start, until=end)))
    name = f"security-report-{first.isoformat()}-{last.isoformat()}.xlsx"
    return Response(data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
