"""Segments: saved filters in the rule language (tags, grades, fields, aggregates), members, count, export.

A segment is also a filter of the customer list (`segment=<id>`, the caller's own segments only), so
its export is an ordinary `kehu.exports` export of that filter: the same rights, watermark, formula-safe
cells, audit and level-1 approval as any other, and for a use needing consent (marketing) the exports
consent check (`kehu.consent.allows`) leaves out customers without it — the file's last line and the
export record say how many.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.customers import repository as customers_repo
from kehu.customers import search as customers_search
from kehu.customers.models import Customer
from kehu.db import utcnow
from kehu.errors import FieldError, Forbidden, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.runtime import Ctx
from kehu.tags.compiler import check, condition, frame_select
from kehu.tags.models import Segment, Tag
from kehu.tags.service import present_members, rule_env

ConsentCheck = Callable[[Session, str, str], bool]


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
    if len(str(data.get("description") or "").strip()) > 500:
        errors.append(FieldError("description", "too_long", "说明不超过500字"))
    expr = str(data.get("expression") or "")
    compiled = None
    try:
        compiled = check(expr, rule_env(session, ctx))
    except ValidationFailed as exc:
        errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    seg = _owned(session, ctx, segment_id) if segment_id else None
    same_name = select(Segment.id).where(Segment.owner_id == ctx.principal.user_id, Segment.name == name)
    if seg is not None:
        same_name = same_name.where(Segment.id != seg.id)
    if session.execute(same_name).first():  # names are unique among the owner's own segments
        raise ValidationFailed([FieldError("name", "duplicate", "您已有同名的分群")])
    if seg is None:
        seg = Segment(id=new_id(), owner_id=ctx.principal.user_id, created_at=utcnow())
        session.add(seg)
    description = str(data.get("description") or "").strip() or None
    seg.name, seg.description, seg.expression, seg.updated_at = name, description, expr, utcnow()
    for code in compiled.tag_codes:  # usage count of tags (SPEC §6 quality: usage)
        tag = session.execute(select(Tag).where(Tag.code == code)).scalar_one()
        tag.usage_count += 1
    ctx.audit(session, action="segment.save", target_type="segment", target_id=seg.id)
    session.flush()
    return _dict(seg)


def delete(session: Session, ctx: Ctx, *, segment_id: str) -> None:
    """Delete one of the caller's segments (exports already made keep their files and records)."""
    seg = _owned(session, ctx, segment_id)
    ctx.audit(session, action="segment.delete", target_type="segment", target_id=seg.id, detail={"name": seg.name})
    session.delete(seg)
    session.flush()


def list_(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Segments of the caller."""
    rows = session.execute(select(Segment).where(Segment.owner_id == ctx.principal.user_id).order_by(Segment.name))
    return [_dict(s) for s in rows.scalars()]


def _mine(session: Session, ctx: Ctx, segment_id: str) -> Segment | None:
    """The caller's own segment, or None (another user's segment is as unknown as a missing one)."""
    seg = session.get(Segment, segment_id)
    return seg if seg is not None and seg.owner_id == ctx.principal.user_id else None


def _owned(session: Session, ctx: Ctx, segment_id: str) -> Segment:
    seg = _mine(session, ctx, segment_id)
    if seg is None:
        raise NotFound()
    return seg


def _member_ids(session: Session, ctx: Ctx, seg: Segment):
    """SELECT of the ids of the segment's members (every customer matching its expression, as of today)."""
    env = rule_env(session, ctx)
    compiled = check(seg.expression, env)
    fr = frame_select(compiled, env.as_of).subquery("fr")
    return select(fr.c.customer_id).where(condition(compiled, fr, env))


def _members_query(session: Session, ctx: Ctx, segment_id: str):
    seg = _owned(session, ctx, segment_id)
    ids = _member_ids(session, ctx, seg).subquery("members")
    scope = ids.c.customer_id.in_(select(Customer.id).where(customers_repo.readable(ctx.principal)))
    return seg, select(ids.c.customer_id).where(scope).order_by(ids.c.customer_id)


def in_segment(session: Session, ctx: Ctx, segment_id: str):
    """List filter `segment`: the caller's own segment's members (the list adds its scope); unknown → 422."""
    seg = _mine(session, ctx, segment_id)
    if seg is None:
        raise ValidationFailed([FieldError("filters.segment", "unknown_segment", "没有这个客户分群")])
    return Customer.id.in_(_member_ids(session, ctx, seg))


def describe(session: Session, ctx: Ctx, segment_id: str) -> str:
    """A segment filter as people read it: its name and rule (the id when it is not the caller's)."""
    seg = _mine(session, ctx, segment_id)
    return f"{seg.name}（{seg.expression}）" if seg else segment_id


# the customer list (and so its API, web page and exports) filters by segment
customers_search.EXTRA_FILTERS["segment"] = ("客户分群", in_segment)
customers_search.FILTER_VALUES["segment"] = describe


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


def export(session: Session, ctx: Ctx, *, segment_id: str, purpose: str, use: str = "marketing",
           fmt: str = "xlsx", fields: list[str] | None = None, consent: ConsentCheck | None = None):
    """Export a segment's members through `kehu.exports` (rights, watermark, formula-safe cells, audit,
    level-1 approval): for a purpose needing consent (marketing) customers without it are left out, and
    the file and the export record say how many. Returns the exports `Outcome`."""
    from kehu.exports import service as exports

    seg = _owned(session, ctx, segment_id)
    outcome = exports.start(session, ctx, filters={"segment": seg.id}, purpose=purpose, use=use, fmt=fmt,
                            fields=fields, consent=consent)
    for code in set(check(seg.expression, rule_env(session, ctx)).tag_codes):
        session.execute(select(Tag).where(Tag.code == code)).scalar_one().usage_count += 1
    return outcome
