"""Segments: saved filters in the rule language (tags, grades, fields, aggregates), members, count, export.

Export respects marketing consent through ONE hook, `allows(session, customer_id, purpose) -> bool`
(the consent package's `kehu.consent.allows`, wired by the lead; tests pass a stub). Customers
without consent for the purpose are left out and the result says how many. The rows go to `deliver`
(the export package's writer, wired by the lead); without it they are returned.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.customers import repository as customers_repo
from kehu.customers.models import Customer
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.runtime import Ctx
from kehu.tags.compiler import check, condition, frame_select
from kehu.tags.models import Segment, Tag
from kehu.tags.service import present_members, rule_env

ConsentCheck = Callable[[Session, str, str], bool]
Deliver = Callable[[list[dict[str, Any]]], Any]


def consent_source() -> ConsentCheck:
    """The consent check of `kehu.consent` (`allows(session, customer_id, purpose)`); refuses when it is absent."""
    import kehu.consent as consent

    allows = getattr(consent, "allows", None)
    if allows is None:
        raise Conflict("同意管理尚未启用，不能导出营销名单", code="consent_unavailable")
    return allows


def _dict(seg: Segment) -> dict[str, Any]:
    return {"id": seg.id, "name": seg.name, "description": seg.description, "expression": seg.expression,
            "owner_id": seg.owner_id, "updated_at": seg.updated_at.isoformat()}


def save(session: Session, ctx: Ctx, *, data: dict[str, Any], segment_id: str | None = None) -> dict[str, Any]:
    """Create or change a segment (any user who sees customers); the expression is checked like a rule."""
    if not ctx.principal.sees_customers:
        raise Forbidden()
    errors = []
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 60:
        errors.append(FieldError("name", "required", "请填写名称（不超过60字）"))
    expr = str(data.get("expression") or "")
    compiled = None
    try:
        compiled = check(expr, rule_env(session, ctx))
    except ValidationFailed as exc:
        errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    seg = session.get(Segment, segment_id) if segment_id else None
    if segment_id and (seg is None or seg.owner_id != ctx.principal.user_id):
        raise NotFound()
    if seg is None:
        if session.execute(select(Segment.id).where(Segment.name == name)).first():
            raise ValidationFailed([FieldError("name", "duplicate", "名称已被使用")])
        seg = Segment(id=new_id(), owner_id=ctx.principal.user_id, created_at=utcnow())
        session.add(seg)
    seg.name, seg.description, seg.expression, seg.updated_at = name, data.get("description"), expr, utcnow()
    for code in compiled.tag_codes:  # usage count of tags (SPEC §6 quality: usage)
        tag = session.execute(select(Tag).where(Tag.code == code)).scalar_one()
        tag.usage_count += 1
    ctx.audit(session, action="segment.save", target_type="segment", target_id=seg.id)
    session.flush()
    return _dict(seg)


def list_(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Segments of the caller."""
    rows = session.execute(select(Segment).where(Segment.owner_id == ctx.principal.user_id).order_by(Segment.name))
    return [_dict(s) for s in rows.scalars()]


def _members_query(session: Session, ctx: Ctx, segment_id: str):
    seg = session.get(Segment, segment_id)
    if seg is None or seg.owner_id != ctx.principal.user_id:
        raise NotFound()
    env = rule_env(session, ctx)
    compiled = check(seg.expression, env)
    fr = frame_select(compiled, env.as_of).subquery("fr")
    scope = fr.c.customer_id.in_(select(Customer.id).where(customers_repo.readable(ctx.principal)))
    return seg, select(fr.c.customer_id).where(condition(compiled, fr, env), scope).order_by(fr.c.customer_id)


def members(session: Session, ctx: Ctx, *, segment_id: str, limit: int = 50) -> dict[str, Any]:
    """The segment's members in the caller's scope: count and the first `limit`, shown through the presenter."""
    seg, q = _members_query(session, ctx, segment_id)
    conn = session.connection()
    count = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    ids = [r[0] for r in conn.execute(q.limit(max(1, min(limit, 500))))]
    shown = present_members(session, ctx, ids)
    ctx.audit(session, action="segment.members", target_type="segment", target_id=seg.id,
              detail={"records": [m["archive_no"] for m in shown]})
    return {"segment": _dict(seg), "count": count, "members": shown}


def export(session: Session, ctx: Ctx, *, segment_id: str, purpose: str = "marketing",
           allows: ConsentCheck | None = None, deliver: Deliver | None = None) -> dict[str, Any]:
    """Export a segment for a purpose: members in scope with consent for it; says how many were left out."""
    spec = ctx.catalog.get("customer", "name")
    if not policy.may(ctx.principal, "export", spec):
        raise Forbidden("无权导出客户信息", code="forbidden_export")
    allows = allows or consent_source()
    seg, q = _members_query(session, ctx, segment_id)
    ids = [r[0] for r in session.connection().execute(q)]
    allowed = [cid for cid in ids if allows(session, cid, purpose)]
    rows = present_members(session, ctx, allowed)
    for code in {c for c in check(seg.expression, rule_env(session, ctx)).tag_codes}:
        session.execute(select(Tag).where(Tag.code == code)).scalar_one().usage_count += 1
    ctx.audit(session, action="segment.export", target_type="segment", target_id=seg.id,
              fields=["customer.archive_no", "customer.name"],
              detail={"purpose": purpose, "exported": len(rows), "excluded_no_consent": len(ids) - len(allowed)})
    result = deliver(rows) if deliver else None
    return {"segment": _dict(seg), "purpose": purpose, "exported": len(rows),
            "excluded_no_consent": len(ids) - len(allowed), "rows": rows if deliver is None else None,
            "delivered": result}
