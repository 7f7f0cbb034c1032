"""Tag quality (SPEC §6 考核指标): coverage, change rate, sampled review → error rate, usage, contradictions.

The costly figures are stored snapshots (`quality_snapshot`); this module reads them with the live, cheap ones.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.customers import repository as customers_repo
from kehu.customers.models import Customer
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.runtime import Ctx
from kehu.tags import builtin, quality_snapshot
from kehu.tags.models import CustomerTag, Tag, TagReview, TagRule, TagSetting
from kehu.tags.service import _tag, present_members

#: stored figures older than this are flagged on the dashboard (a full evaluation runs quarterly; real-time
#: updates and manual tags move the counts in between)
STALE_AFTER = timedelta(days=7)


def dashboard(session: Session, ctx: Ctx) -> dict[str, Any]:
    """Per tag: holders, coverage, change rate and contradictions as last stored (`quality_snapshot`), reviews,
    errors, error rate and usage live; the snapshot's time, and a `notice` when it is missing or stale.

    Reads only small tables (the snapshot row, the catalogue, the sampled reviews): milliseconds on any store."""
    quality_snapshot.may_view(ctx)
    builtin.ensure(session)
    snap = quality_snapshot.latest(session)
    figures = json.loads(snap.tags) if snap else {}
    total = snap.customers if snap else None
    reviewed = {tid: (n, bad or 0) for tid, n, bad in session.execute(
        select(TagReview.tag_id, func.count(), func.sum(case((TagReview.correct.is_(False), 1), else_=0)))
        .where(TagReview.correct.is_not(None)).group_by(TagReview.tag_id))}
    out = []
    for tag in session.execute(select(Tag).order_by(Tag.family, Tag.code)).scalars():
        h, changes, flags = figures.get(tag.id, (None, None, None))  # None: not counted (a newer tag)
        n, bad = reviewed.get(tag.id, (0, 0))
        out.append({"code": tag.code, "name": tag.name, "family": tag.family, "holders": h,
                    "coverage": (round(h / total, 4) if total else 0.0) if h is not None else None,
                    "change_rate": (round(changes / h, 4) if h else float(changes > 0)) if h is not None else None,
                    "reviewed": n, "errors": int(bad), "error_rate": round(int(bad) / n, 4) if n else None,
                    "usage_count": tag.usage_count, "contradictions": flags if h is not None else None,
                    "contradiction_invalid": h is not None and flags is None})
    shown = quality_snapshot.view(session, ctx, snap) if snap else None
    return {"customers": total, "tags": out, "groups": shown["groups"] if shown else [],
            "snapshot": {k: shown[k] for k in ("computed_at", "as_of", "trigger", "actor", "seconds")} if shown else None,
            "notice": _notice(session, snap)}


def _notice(session: Session, snap) -> dict[str, Any] | None:
    """Why the stored figures may be wrong now: none yet, older than the last full evaluation, than a rule
    activated or retired since (its tag re-applied or removed), or than `STALE_AFTER`."""
    if snap is None:
        return {"kind": "none"}
    last = session.get(TagSetting, "last_full_evaluation")
    full = json.loads(last.value).get("at") if last else None
    if full and snap.computed_at < datetime.fromisoformat(full):
        return {"kind": "evaluation", "at": full}
    # a version once active and now retired took its tag from the holders (a draft's retirement changed nothing)
    changed = session.execute(select(func.max(func.coalesce(TagRule.retired_at, TagRule.activated_at)))
                              .where(TagRule.activated_at.is_not(None))).scalar()
    if changed is not None and snap.computed_at < changed:
        return {"kind": "rules", "at": changed.isoformat()}
    if utcnow() - snap.computed_at > STALE_AFTER:
        return {"kind": "old", "days": STALE_AFTER.days}
    return None


def sample(session: Session, ctx: Ctx, *, code: str, size: int = 10) -> list[dict[str, Any]]:
    """Draw a random sample of the tag's holders in the caller's scope for manual review."""
    require_capability(ctx.principal, "review_tags")
    if not 1 <= size <= 200:
        raise ValidationFailed([FieldError("size", "invalid", "样本数量须在1–200之间")])
    tag = _tag(session, code)
    ids = [r[0] for r in session.execute(
        select(CustomerTag.customer_id).join(Customer, Customer.id == CustomerTag.customer_id)
        .where(CustomerTag.tag_id == tag.id, customers_repo.readable(ctx.principal))
        .order_by(func.random()).limit(size))]
    now = utcnow()
    reviews = []
    for cid in ids:
        r = TagReview(id=new_id(), tag_id=tag.id, customer_id=cid, sampled_by=ctx.principal.user_id, sampled_at=now)
        session.add(r)
        reviews.append(r)
    session.flush()
    shown = {m["archive_no"]: m for m in present_members(session, ctx, ids)}
    nos = dict(session.execute(select(Customer.id, Customer.archive_no).where(Customer.id.in_(ids))).all()) if ids else {}
    ctx.audit(session, action="tag.sample", target_type="tag", target_id=tag.id, detail={"records": list(shown)})
    return [{"id": r.id, "customer": shown.get(nos.get(r.customer_id))} for r in reviews]


def record(session: Session, ctx: Ctx, *, review_id: str, correct: bool, note: str | None = None) -> dict[str, Any]:
    """Record the outcome of one sampled check (correct or an error)."""
    require_capability(ctx.principal, "review_tags")
    r = session.get(TagReview, review_id)
    if r is None or session.execute(select(Customer.id).where(
            and_(Customer.id == r.customer_id, customers_repo.readable(ctx.principal)))).first() is None:
        raise NotFound()
    if r.correct is not None:
        raise Conflict("该抽检已记录", code="already_reviewed")
    r.correct, r.note, r.reviewed_by, r.reviewed_at = bool(correct), note, ctx.principal.user_id, utcnow()
    ctx.audit(session, action="tag.review_sample", target_type="tag", target_id=r.tag_id,
              detail={"review": r.id, "correct": bool(correct)})
    return {"id": r.id, "correct": r.correct}
