"""Leads / opportunities (商机) with configurable stages and a stage history. No HTTP; never commits."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu import events
from kehu.access import policy
from kehu.catalog.presenter import present
from kehu.customers.models import Customer
from kehu.customers.repository import readable
from kehu.customers.service import minor_of, vault_of
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.interactions.service import clean_record, load_customer, require_create, store
from kehu.kit.ids import new_id
from kehu.leads.models import Lead, LeadChange, LeadStage
from kehu.runtime import Ctx

CODE = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


def stages(session: Session, *, active_only: bool = False) -> list[LeadStage]:
    """Stage definitions in order."""
    stmt = select(LeadStage)
    if active_only:
        stmt = stmt.where(LeadStage.active.is_(True))
    return list(session.execute(stmt.order_by(LeadStage.sort_order, LeadStage.code)).scalars())


def _stage(session: Session, code: Any, errors: list[FieldError]) -> LeadStage | None:
    stage = session.get(LeadStage, code) if isinstance(code, str) else None
    if stage is None or not stage.active:
        valid = "、".join(s.code for s in stages(session, active_only=True))
        errors.append(FieldError("stage", "stage_invalid", f"商机阶段无效，可选：{valid}"))
        return None
    return stage


def _reason(reason: Any) -> str | None:
    text = (reason or "").strip() if isinstance(reason, str) or reason is None else None
    if text is None or len(text) > 500:
        raise ValidationFailed([FieldError("reason", "too_long", "原因不能超过500个字符")])
    return text or None


def _shown(session: Session, ctx: Ctx, customer: Customer, lead: Lead) -> dict[str, Any]:
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    users, _ = ctx.names(session)
    names = {s.code: s.name for s in stages(session)}
    changes = session.execute(select(LeadChange).where(LeadChange.lead_id == lead.id)
                              .order_by(LeadChange.id)).scalars()
    history = [{**present(ctx.principal, ctx.catalog, "lead_change", c, vault, minor=minor).as_dict(),
                "changed_by": users.get(c.changed_by), "changed_at": c.changed_at.isoformat()} for c in changes]
    return {"id": lead.id, "archive_no": customer.archive_no,
            **present(ctx.principal, ctx.catalog, "lead", lead, vault, minor=minor).as_dict(),
            "stage_name": names.get(lead.stage), "created_at": lead.created_at.isoformat(),
            "updated_at": lead.updated_at.isoformat(), "history": history}


def _record_change(session: Session, ctx: Ctx, lead: Lead, old: str | None, new: str, reason: str | None) -> None:
    session.add(LeadChange(id=new_id(), lead_id=lead.id, from_stage=old, to_stage=new, reason=reason,
                           changed_by=ctx.principal.user_id, changed_at=utcnow()))


def add(session: Session, ctx: Ctx, *, archive_no: str, data: dict[str, Any]) -> dict[str, Any]:
    """Record a lead of a customer in scope (stage defaults to the first active stage); audited."""
    customer = load_customer(session, ctx, archive_no, writing=True)
    data = dict(data)
    first = stages(session, active_only=True)
    if data.get("stage") in (None, "") and first:
        data["stage"] = first[0].code
    values, errors = clean_record(ctx, "lead", data)
    if "stage" in data:
        _stage(session, data["stage"], errors)
    if errors:
        raise ValidationFailed(errors)
    minor = minor_of(customer)
    require_create(ctx, "lead", values, minor=minor)
    now = utcnow()
    lead = Lead(id=new_id(), customer_id=customer.id, created_by=ctx.principal.user_id, created_at=now,
                updated_at=now)
    store(ctx, vault_of(ctx, customer), lead, "lead", values)
    session.add(lead)
    session.flush()
    _record_change(session, ctx, lead, None, lead.stage, "新建商机")
    session.flush()
    ctx.audit(session, action="lead.create", target_type="lead", target_id=lead.id,
              customer_no=customer.archive_no, fields=[f"lead.{k}" for k, v in values.items() if v is not None])
    events.stage(session, "lead.created", customer_id=customer.id, customer_no=customer.archive_no,
                 record_id=lead.id, stage=lead.stage)
    return _shown(session, ctx, customer, lead)


def list_(session: Session, ctx: Ctx, *, archive_no: str) -> dict[str, Any]:
    """Leads of a customer in scope, newest first, each with its stage history; audited."""
    customer = load_customer(session, ctx, archive_no)
    leads = session.execute(select(Lead).where(Lead.customer_id == customer.id).order_by(Lead.id.desc())
                            .limit(200)).scalars()
    items = [_shown(session, ctx, customer, lead) for lead in leads]
    if items:
        ctx.audit(session, action="lead.list", target_type="customer", target_id=customer.id,
                  customer_no=customer.archive_no, fields=["lead.title", "lead.expected_amount",
                                                           "lead.expected_sign_on", "lead_change.reason"],
                  detail={"records": len(items)})
    return {"items": items}


def change_stage(session: Session, ctx: Ctx, *, lead_id: str, stage: Any, reason: Any = None) -> dict[str, Any]:
    """Move a lead to another stage; the change (from, to, who, when, why) is kept; audited."""
    row = session.execute(select(Lead, Customer).join(Customer, Customer.id == Lead.customer_id)
                          .where(Lead.id == lead_id, readable(ctx.principal)).with_for_update()).first()
    if row is None:
        raise NotFound()
    lead, customer = row
    errors: list[FieldError] = []
    target = _stage(session, stage, errors)
    if errors:
        raise ValidationFailed(errors)
    reason = _reason(reason)
    if target.code == lead.stage:
        raise Conflict("商机已处于该阶段", code="stage_unchanged")
    minor = minor_of(customer)
    policy.require_fields(ctx.principal, "modify", [ctx.catalog.get("lead", "stage")], minor=minor)
    if reason:
        policy.require_fields(ctx.principal, "create", [ctx.catalog.get("lead_change", "reason")], minor=minor)
    old = lead.stage
    lead.stage, lead.updated_at = target.code, utcnow()
    _record_change(session, ctx, lead, old, target.code, reason)
    session.flush()
    ctx.audit(session, action="lead.stage", target_type="lead", target_id=lead.id, customer_no=customer.archive_no,
              fields=["lead.stage"] + (["lead_change.reason"] if reason else []),
              detail={"from": old, "to": target.code})
    events.stage(session, "lead.stage_changed", customer_id=customer.id, customer_no=customer.archive_no,
                 record_id=lead.id, from_stage=old, to_stage=target.code)
    return _shown(session, ctx, customer, lead)


def _stage_dict(s: LeadStage) -> dict[str, Any]:
    return {"code": s.code, "name": s.name, "sort_order": s.sort_order, "description": s.description,
            "active": s.active}


def list_stages(session: Session, ctx: Ctx) -> dict[str, Any]:
    """Stage definitions (company rules, readable by every signed-in user)."""
    return {"items": [_stage_dict(s) for s in stages(session)]}


def put_stage(session: Session, ctx: Ctx, *, code: str, data: dict[str, Any]) -> dict[str, Any]:
    """Create or change a stage definition (needs `manage_lead_stages`); audited."""
    policy.require_capability(ctx.principal, "manage_lead_stages")
    errors = []
    if not CODE.match(code or ""):
        errors.append(FieldError("code", "invalid", "阶段代码应为1-10位大写字母或数字，以字母开头"))
    name, order, desc, active = (data.get("name"), data.get("sort_order"), data.get("description"),
                                 data.get("active"))
    stage = session.get(LeadStage, code)
    if name is not None and (not isinstance(name, str) or not 1 <= len(name.strip()) <= 40):
        errors.append(FieldError("name", "invalid", "名称应为1-40个字符"))
    if stage is None and not name:
        errors.append(FieldError("name", "required", "必填"))
    if order is not None and (isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 10000):
        errors.append(FieldError("sort_order", "invalid", "应为0到10000之间的整数"))
    if desc is not None and (not isinstance(desc, str) or len(desc) > 400):
        errors.append(FieldError("description", "too_long", "说明不能超过400个字符"))
    if active is not None and not isinstance(active, bool):
        errors.append(FieldError("active", "invalid", "应为是/否"))
    if errors:
        raise ValidationFailed(errors)
    if stage is None:
        stage = LeadStage(code=code, name=name.strip(), sort_order=order or 0, description=desc,
                          active=True if active is None else active)
        session.add(stage)
    else:
        for attr, value in (("name", name.strip() if name else None), ("sort_order", order),
                            ("description", desc), ("active", active)):
            if value is not None:
                setattr(stage, attr, value)
    session.flush()
    ctx.audit(session, action="lead.stage_definition", target_type="lead_stage", target_id=code,
              detail=_stage_dict(stage))
    return _stage_dict(stage)
