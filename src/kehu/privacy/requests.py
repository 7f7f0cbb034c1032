"""The register of data subjects' rights requests (个人信息权利请求): receipt, identity check, handling, closure.

received → verified (method, who, when recorded) → completed | rejected (a reason is mandatory).
Nothing but rejection can happen to an unverified request. Deadlines count working days (calendar.py).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.customers import repository as customers
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.privacy import calendar
from kehu.privacy.models import REQUEST_KINDS, REQUEST_STATUSES, VERIFY_METHODS, RightsRequest
from kehu.runtime import Ctx

CAPABILITY = "handle_rights_requests"
OPEN = ("received", "verified")


def _text(value: str | None, name: str, *, minimum: int = 2, maximum: int = 1000) -> str:
    text = (value or "").strip()
    if not minimum <= len(text) <= maximum:
        raise ValidationFailed([FieldError(name, "required", f"请填写{minimum}至{maximum}个字")])
    return text


def as_dict(req: RightsRequest, *, today: date) -> dict[str, Any]:
    """JSON form of a request, with its overdue flag as of a day."""
    return {
        "request_no": req.request_no, "customer_no": req.customer_no, "kind": req.kind,
        "kind_label": dict(REQUEST_KINDS)[req.kind], "channel": req.channel,
        "received_on": req.received_on.isoformat(), "due_on": req.due_on.isoformat(), "status": req.status,
        "status_label": dict(REQUEST_STATUSES)[req.status], "verify_method": req.verify_method,
        "verified_by": req.verified_by, "verified_at": req.verified_at.isoformat() if req.verified_at else None,
        "handler_id": req.handler_id, "outcome": req.outcome, "reject_reason": req.reject_reason,
        "closed_at": req.closed_at.isoformat() if req.closed_at else None,
        "overdue": req.status in OPEN and today > req.due_on,
    }


def create(session: Session, ctx: Ctx, *, customer_no: str, kind: str, received_on: date,
           channel: str | None = None, working_days: int = calendar.DEFAULT_WORKING_DAYS) -> RightsRequest:
    """Register a request against a customer in the handler's scope; the deadline counts working days."""
    require_capability(ctx.principal, CAPABILITY)
    errors = []
    if kind not in dict(REQUEST_KINDS):
        errors.append(FieldError("kind", "invalid_choice", "请求类型无效"))
    if not 1 <= working_days <= 60:
        errors.append(FieldError("working_days", "out_of_range", "期限须为1至60个工作日"))
    if errors:
        raise ValidationFailed(errors)
    if customers.get_by_no(session, ctx.principal, customer_no) is None:
        raise NotFound()
    year = received_on.year
    n = session.execute(select(func.count()).select_from(RightsRequest).where(
        RightsRequest.request_no.like(f"QQ{year}%"))).scalar_one()
    req = RightsRequest(id=new_id(), request_no=f"QQ{year}{n + 1:05d}", customer_no=customer_no, kind=kind,
                        channel=(channel or "").strip()[:40] or None, received_on=received_on,
                        due_on=calendar.add_working_days(session, received_on, working_days), status="received",
                        handler_id=ctx.principal.user_id, created_by=ctx.principal.user_id)
    session.add(req)
    ctx.audit(session, action="privacy.request.create", target_type="privacy_request", target_id=req.id,
              customer_no=customer_no, detail={"kind": kind})
    return req


def get(session: Session, ctx: Ctx, *, request_no: str, for_update: bool = False) -> RightsRequest:
    """One request (handlers only)."""
    require_capability(ctx.principal, CAPABILITY)
    stmt = select(RightsRequest).where(RightsRequest.request_no == request_no)
    req = session.execute(stmt.with_for_update() if for_update else stmt).scalar_one_or_none()
    if req is None:
        raise NotFound()
    return req


def list_(session: Session, ctx: Ctx, *, today: date, status: str | None = None, overdue: bool | None = None,
          customer_no: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The register, oldest deadline first."""
    require_capability(ctx.principal, CAPABILITY)
    stmt = select(RightsRequest).order_by(RightsRequest.due_on, RightsRequest.request_no).limit(limit)
    if status:
        stmt = stmt.where(RightsRequest.status == status)
    if customer_no:
        stmt = stmt.where(RightsRequest.customer_no == customer_no)
    if overdue:
        stmt = stmt.where(RightsRequest.status.in_(OPEN), RightsRequest.due_on < today)
    return [as_dict(r, today=today) for r in session.execute(stmt).scalars()]


def verify(session: Session, ctx: Ctx, *, request_no: str, method: str) -> RightsRequest:
    """Record how the requester's identity was verified, by whom and when."""
    req = get(session, ctx, request_no=request_no, for_update=True)
    if method not in dict(VERIFY_METHODS):
        raise ValidationFailed([FieldError("method", "invalid_choice", "核验方式无效")])
    if req.status != "received":
        raise Conflict("该请求已核验或已结束", code="invalid_transition")
    req.status, req.verify_method = "verified", method
    req.verified_by, req.verified_at = ctx.principal.user_id, utcnow()
    ctx.audit(session, action="privacy.request.verify", target_type="privacy_request", target_id=req.id,
              customer_no=req.customer_no, detail={"method": method})
    return req


def require_verified(req: RightsRequest) -> None:
    """Refuse to act on a request whose requester has not been verified."""
    if req.status != "verified":
        raise Conflict("请先核验申请人身份", code="not_verified")


def complete(session: Session, ctx: Ctx, *, request_no: str, outcome: str | None) -> RightsRequest:
    """Close a verified request with a note of what was done."""
    req = get(session, ctx, request_no=request_no, for_update=True)
    text = _text(outcome, "outcome")
    require_verified(req)
    req.status, req.outcome, req.closed_at, req.handler_id = "completed", text, utcnow(), ctx.principal.user_id
    ctx.audit(session, action="privacy.request.complete", target_type="privacy_request", target_id=req.id,
              customer_no=req.customer_no)
    return req


def reject(session: Session, ctx: Ctx, *, request_no: str, reason: str | None) -> RightsRequest:
    """Refuse a request; the reason is mandatory (and told to the requester)."""
    req = get(session, ctx, request_no=request_no, for_update=True)
    text = _text(reason, "reason")
    if req.status not in OPEN:
        raise Conflict("该请求已结束", code="invalid_transition")
    req.status, req.reject_reason, req.closed_at, req.handler_id = "rejected", text, utcnow(), ctx.principal.user_id
    ctx.audit(session, action="privacy.request.reject", target_type="privacy_request", target_id=req.id,
              customer_no=req.customer_no, reason=text)
    return req


def set_calendar_day(session: Session, ctx: Ctx, *, day: date, kind: str | None, note: str | None = None) -> None:
    """Mark a day as holiday / adjusted working day, or remove the override (kind None)."""
    from kehu.privacy.models import DAY_KINDS, CalendarDay

    require_capability(ctx.principal, CAPABILITY)
    row = session.get(CalendarDay, day)
    if kind is None:
        if row is not None:
            session.delete(row)
    elif kind not in dict(DAY_KINDS):
        raise ValidationFailed([FieldError("kind", "invalid_choice", "日期类型无效")])
    elif row is None:
        session.add(CalendarDay(day=day, kind=kind, note=(note or "")[:60] or None))
    else:
        row.kind, row.note = kind, (note or "")[:60] or None
    ctx.audit(session, action="privacy.calendar.set", target_type="calendar", target_id=day.isoformat(),
              detail={"kind": kind})
