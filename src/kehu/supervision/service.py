"""Alerts (open → acknowledged → closed with a note) and the rule settings, for the supervision role."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.audit.models import AuditEntry
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.runtime import Ctx
from kehu.supervision import rules as R
from kehu.supervision.models import AlarmRule, Alert
from kehu.supervision.scan import BATCH, ScanResult, scan_batch

STATUSES = ("open", "acknowledged", "closed")
LOG = AuditEntry.__table__.c


def _alert_dict(a: Alert) -> dict:
    return {
        "id": a.id, "rule": a.rule, "rule_name": R.NAMES.get(a.rule, a.rule), "subject": a.subject,
        "user_id": a.user_id, "user_name": a.user_name, "count": a.count, "limit": a.limit,
        "window_start": a.window_start.isoformat(), "window_end": a.window_end.isoformat(),
        "first_seq": a.first_seq, "last_seq": a.last_seq, "status": a.status, "locked": a.locked,
        "created_at": a.created_at.isoformat(), "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "acknowledge_note": a.acknowledge_note, "closed_by": a.closed_by,
        "closed_at": a.closed_at.isoformat() if a.closed_at else None, "close_note": a.close_note,
    }


def list_alerts(session: Session, ctx: Ctx, *, status: str | None = None, rule: str | None = None,
                user: str | None = None, before: str | None = None, limit: int = 50) -> dict:
    """Alerts newest first, filtered by status, rule and user (id or login name)."""
    require_capability(ctx.principal, "read_alerts")
    errors = []
    if status and status not in STATUSES:
        errors.append(FieldError("status", "invalid_choice", "状态只能是 open、acknowledged 或 closed"))
    if rule and rule not in R.DEFAULTS:
        errors.append(FieldError("rule", "invalid_choice", "报警规则不存在"))
    if errors:
        raise ValidationFailed(errors)
    stmt = select(Alert)
    if status:
        stmt = stmt.where(Alert.status == status)
    if rule:
        stmt = stmt.where(Alert.rule == rule)
    if user:
        stmt = stmt.where(or_(Alert.user_id == user, Alert.user_name == user, Alert.subject == user))
    if before:
        stmt = stmt.where(Alert.id < before)
    limit = max(1, min(limit, 200))
    rows = session.execute(stmt.order_by(Alert.id.desc()).limit(limit)).scalars().all()
    ctx.audit(session, action="alarm.list", detail={"status": status, "rule": rule, "user": user})
    return {"items": [_alert_dict(a) for a in rows], "next_before": rows[-1].id if len(rows) == limit else None}


def matching_entries(session: Session, ctx: Ctx, alert: Alert, *, limit: int = 200) -> list[dict]:
    """The audit entries that made the alert (newest first, at most `limit`)."""
    dialect = session.bind.dialect.name
    rule = R.effective(session)[alert.rule]
    if alert.rule in R.ONE_OFF:
        where = LOG.seq == alert.bucket
    else:
        cond = R.condition(rule, ctx.catalog, dialect)
        if alert.rule == "records_viewed":
            cond = or_(cond, and_(LOG.outcome == "ok", LOG.action.like("%.list"),
                                  LOG.detail.like('%"records": [%')))
        where = and_(cond, R.subject() == alert.subject, LOG.ts >= alert.window_start, LOG.ts < alert.window_end,
                     LOG.seq <= alert.last_seq)
    rows = session.execute(select(AuditEntry).where(where).order_by(AuditEntry.seq.desc()).limit(limit)).scalars()
    return [{"seq": r.seq, "ts": r.ts.isoformat(), "actor_name": r.actor_name, "action": r.action,
             "outcome": r.outcome, "customer_no": r.customer_no, "fields": r.fields.split(",") if r.fields else [],
             "records": len(json.loads(r.detail).get("records", [])) if r.detail and '"records"' in r.detail else None,
             "ip": r.ip} for r in rows]


def _get(session: Session, alert_id: str, *, for_update: bool = False) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=for_update) if len(alert_id) <= 32 else None
    if alert is None:
        raise NotFound("报警不存在", code="alert_not_found")
    return alert


def get_alert(session: Session, ctx: Ctx, *, alert_id: str) -> dict:
    """One alert with the audit entries that raised it."""
    require_capability(ctx.principal, "read_alerts")
    alert = _get(session, alert_id)
    out = _alert_dict(alert) | {"entries": matching_entries(session, ctx, alert)}
    ctx.audit(session, action="alarm.read", target_type="alert", target_id=alert.id)
    return out


def _note(note: str | None, *, required: bool) -> str | None:
    note = (note or "").strip()
    if required and not note:
        raise ValidationFailed([FieldError("note", "required", "请填写处理说明")])
    if len(note) > 2000:
        raise ValidationFailed([FieldError("note", "too_long", "处理说明不能超过 2000 字")])
    return note or None


def acknowledge(session: Session, ctx: Ctx, *, alert_id: str, note: str | None = None) -> dict:
    """open → acknowledged (someone is looking into it)."""
    require_capability(ctx.principal, "read_alerts")
    text = _note(note, required=False)
    alert = _get(session, alert_id, for_update=True)
    if alert.status != "open":
        raise Conflict("只有未处理的报警可以确认", code="invalid_transition")
    alert.status, alert.acknowledged_by = "acknowledged", ctx.principal.username
    alert.acknowledged_at, alert.acknowledge_note = datetime.now(timezone.utc), text
    ctx.audit(session, action="alarm.acknowledge", target_type="alert", target_id=alert.id, reason=text,
              detail={"rule": alert.rule, "subject": alert.subject})
    return _alert_dict(alert)


def close(session: Session, ctx: Ctx, *, alert_id: str, note: str | None) -> dict:
    """open/acknowledged → closed, with a mandatory note (what was found, what was done)."""
    require_capability(ctx.principal, "read_alerts")
    text = _note(note, required=True)
    alert = _get(session, alert_id, for_update=True)
    if alert.status == "closed":
        raise Conflict("该报警已关闭", code="invalid_transition")
    alert.status, alert.closed_by = "closed", ctx.principal.username
    alert.closed_at, alert.close_note = datetime.now(timezone.utc), text
    ctx.audit(session, action="alarm.close", target_type="alert", target_id=alert.id, reason=text,
              detail={"rule": alert.rule, "subject": alert.subject})
    return _alert_dict(alert)


def list_rules(session: Session, ctx: Ctx) -> dict:
    """Every rule with its effective settings."""
    if not (ctx.principal.has("read_alerts") or ctx.principal.has("manage_alarms")):
        raise Forbidden()
    ctx.audit(session, action="alarm.rules")
    return {"items": [r.as_dict() for r in R.effective(session).values()],
            "manage": ctx.principal.has("manage_alarms")}


def update_rule(session: Session, ctx: Ctx, *, code: str, enabled: bool, limit: int, window_minutes: int,
                lock: bool, params: dict | None = None) -> dict:
    """Change one rule's threshold, window, automatic lock or working hours (effective on the next scan)."""
    require_capability(ctx.principal, "manage_alarms")
    if code not in R.DEFAULTS:
        raise NotFound("报警规则不存在", code="rule_not_found")
    rule = R.checked(code, enabled=enabled, limit=limit, window_minutes=window_minutes, lock=lock, params=params)
    before = R.effective(session)[code].as_dict()
    row = session.get(AlarmRule, code) or AlarmRule(code=code)
    row.enabled, row.limit, row.window_minutes, row.lock = rule.enabled, rule.limit, rule.window_minutes, rule.lock
    row.params = json.dumps(rule.params, ensure_ascii=False, sort_keys=True) if rule.params else None
    row.updated_at, row.updated_by = datetime.now(timezone.utc), ctx.principal.user_id
    session.add(row)
    after = rule.as_dict()
    ctx.audit(session, action="alarm.rule.update", target_type="alarm_rule", target_id=code,
              detail={k: [before[k], after[k]] for k in after if before[k] != after[k] and k != "name"})
    return after


def run_scan(session: Session, ctx: Ctx) -> dict:
    """Evaluate the rules over the entries not yet scanned (normally done in the background)."""
    require_capability(ctx.principal, "manage_alarms")
    result = ScanResult()
    while not scan_batch(session, ctx.kehu, batch=BATCH, result=result):
        pass
    ctx.audit(session, action="alarm.scan", detail={"raised": result.raised, "scanned": result.scanned})
    return result.as_dict()
