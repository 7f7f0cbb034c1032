"""Controlled export of a filtered customer list. No HTTP here; never commits.

`start` checks everything before a single row is read: the export grant (default deny), the
columns (only fields the caller sees AND may export at their level), the stated purpose, the
consent filter for consent-bound purposes and — for level-1 values in plain text — a second
person's approval of exactly this export (`kehu.approvals`, kind `export.level1`), consumed here.
It records the export and returns a `Plan`; `kehu.exports.writer` streams the file from it,
page by page through the customer list's own query, every value through the one presenter.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.approvals import service as approvals
from kehu.approvals.repository import ID
from kehu.approvals.kinds import Kind, register
from kehu.catalog.spec import FieldSpec
from kehu.customers import repository as customers_repo
from kehu.customers.search import conditions, filter_conditions, filter_label, filter_names, filter_value
from kehu.customers.service import LIST_FIELDS
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.exports import hooks
from kehu.exports.models import Export
from kehu.kit import validate as v
from kehu.kit.ids import new_id
from kehu.runtime import Ctx

KIND = register(Kind(code="export.level1", label="一级字段明文导出", capability="approve_export",
                     page="/exports/{subject_id}"))
USES = {"service": "客户服务", "operations": "经营管理", "analysis": "统计分析", "marketing": "营销推广"}
FORMATS = ("csv", "xlsx")
CST = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class Plan:
    """Everything the writer needs to produce one export, fixed before the first row is read."""

    export_id: str
    ctx: Ctx
    where: list[ColumnElement[bool]]
    sort: str
    fields: list[str]  # customer field names, in column order
    plain: frozenset[str]  # level-1 fields shown in plain text (approved)
    fmt: str
    use: str
    watermark: str
    filename: str
    consent: hooks.ConsentCheck | None


@dataclass(frozen=True)
class Outcome:
    """What `start` decided: a plan to stream now, or an approval request to wait for."""

    export_id: str
    plan: Plan | None = None
    approval: dict[str, Any] | None = None


def _require_export_grant(ctx: Ctx) -> None:
    if not any(ctx.principal.can("export", lvl) for lvl in (1, 2, 3)) or not ctx.principal.sees_customers:
        raise Forbidden("您没有导出客户信息的权限", code="forbidden_export")


def exportable(ctx: Ctx) -> list[FieldSpec]:
    """Customer fields the caller may put in a file: seen on screen and `export` held at their level."""
    p = ctx.principal
    return [s for s in ctx.catalog.of("customer")
            if policy.display_state(p, s) != "hidden" and policy.may(p, "export", s)]


def may_plaintext(ctx: Ctx) -> bool:
    """Whether the caller may ask for level-1 values in plain text at all (export and reveal at level 1)."""
    return ctx.principal.can("export", 1) and ctx.principal.can("reveal", 1)


def options(session: Session, ctx: Ctx) -> dict[str, Any]:
    """What the caller may export: columns (with how each will appear), purposes, formats."""
    _require_export_grant(ctx)
    cols = exportable(ctx)
    return {"fields": [{"name": s.name, "label": s.label, "level": s.level,
                        "state": policy.display_state(ctx.principal, s)} for s in cols],
            "default_fields": [n for n in LIST_FIELDS if n in {s.name for s in cols}],
            "uses": USES, "formats": list(FORMATS), "may_plaintext": may_plaintext(ctx),
            "consent_uses": sorted(hooks.CONSENT_USES)}


@dataclass(frozen=True)
class _Spec:
    q: str
    filters: dict[str, str]
    sort: str
    fields: list[str]
    plain: list[str]
    purpose: str
    use: str
    fmt: str


def _check(ctx: Ctx, *, q: str | None, filters: dict[str, Any] | None, sort: str | None, fields: list[str] | None,
           purpose: str | None, use: str | None, fmt: str | None, plaintext: bool) -> _Spec:
    """The request normalised, or every problem at once (422) / the fields the caller may not export (403)."""
    errors: list[FieldError] = []
    text = (purpose or "").strip()
    if len(text) < 2:
        errors.append(FieldError("purpose", "purpose_required", "请填写导出用途（至少2个字）"))
    elif len(text) > 200:
        errors.append(FieldError("purpose", "too_long", "导出用途不能超过200个字符"))
    elif any(ord(c) < 32 for c in text):
        errors.append(FieldError("purpose", "invalid", "导出用途含有无效字符"))
    if use not in USES:
        errors.append(FieldError("use", "invalid_choice", "请选择用途类别"))
    if fmt not in FORMATS:
        errors.append(FieldError("format", "invalid_choice", "格式只能是 CSV 或 Excel"))
    sort = sort or "new"
    if sort not in customers_repo.SORTS:
        errors.append(FieldError("sort", "invalid_choice", "无效的排序方式"))
    query = v.normalize_text(q or "")
    if len(query) > 100:
        errors.append(FieldError("q", "too_long", "搜索内容过长"))
    texts = [query, *(str(val or "") for val in (filters or {}).values())]
    if any(ord(c) < 32 for text_ in texts for c in text_):
        errors.append(FieldError("filters", "invalid", "搜索或筛选条件含有无效字符"))
    unknown_filters = sorted(set(filters or {}) - set(filter_names()))
    if unknown_filters:
        errors.append(FieldError("filters", "unknown_field", "未知的筛选条件：" + "、".join(unknown_filters)))
    clean_filters = {k: str(val) for k, val in sorted((filters or {}).items()) if k in filter_names() and val not in (None, "")}
    names = list(dict.fromkeys(fields or []))
    known = {s.name for s in ctx.catalog.of("customer")}
    unknown = [n for n in names if n not in known]
    if unknown:
        errors.append(FieldError("fields", "unknown_field", "未知字段：" + "、".join(unknown)))
    allowed = {s.name for s in exportable(ctx)}
    if not names and not unknown:
        names = [n for n in LIST_FIELDS if n in allowed]
    if not names:
        errors.append(FieldError("fields", "required", "请至少选择一个字段"))
    level1 = [n for n in names if n in known and ctx.catalog.get("customer", n).level == 1]
    if plaintext and not level1 and not unknown:
        errors.append(FieldError("plaintext", "no_level1_field", "所选字段中没有一级字段，无需明文导出"))
    if errors:
        raise ValidationFailed(errors)
    denied = [ctx.catalog.get("customer", n) for n in names if n not in allowed]
    if denied:
        raise Forbidden("无权导出以下字段：" + "、".join(s.label for s in denied), code="forbidden_export")
    if plaintext and not may_plaintext(ctx):
        raise Forbidden("一级字段明文导出须同时具有一级字段的导出和查看明文权限", code="forbidden_plaintext")
    return _Spec(q=query, filters=clean_filters, sort=sort, fields=names, plain=level1 if plaintext else [],
                 purpose=text, use=use, fmt=fmt)


def _payload(ctx: Ctx, spec: _Spec) -> dict[str, Any]:
    """What an approval covers: exactly these rows (criteria), columns, plain-text fields and purpose."""
    search = ctx.kehu.crypto.blind_index("export_search", spec.q).hex() if spec.q else None
    return {"entity": "customer", "filters": spec.filters, "search": search, "sort": spec.sort,
            "fields": [f"customer.{n}" for n in spec.fields], "plaintext": [f"customer.{n}" for n in spec.plain],
            "purpose": spec.purpose, "use": spec.use}


def _summary(session: Session, ctx: Ctx, spec: _Spec) -> str:
    labels = "、".join(ctx.catalog.get("customer", n).label + ("（明文）" if n in spec.plain else "")
                      for n in spec.fields)
    cond = "；".join(f"{filter_label(ctx.catalog, k)}={filter_value(session, ctx, k, val)}"
                    for k, val in spec.filters.items()) or "无"
    text = (f"导出客户档案：字段 {labels}；筛选 {cond}{'；含搜索条件（内容不显示）' if spec.q else ''}；"
            f"用途 {spec.purpose}（{USES[spec.use]}）")
    return text[:500]


def _rights(ctx: Ctx, spec: _Spec) -> list[tuple[str, int]]:
    """Data rights the export needs: view and export at every level exported, reveal at level 1."""
    levels = {ctx.catalog.get("customer", n).level for n in spec.fields}
    return [(a, lvl) for lvl in levels for a in ("view", "export")] + [("reveal", 1)]


def _consent(spec: _Spec, consent: hooks.ConsentCheck | None) -> hooks.ConsentCheck | None:
    if spec.use not in hooks.CONSENT_USES:
        return None
    check = consent or hooks.consent_check()
    if check is None:
        raise Conflict("该用途须按客户的同意记录筛选，同意检查尚未启用，暂不能导出", code="consent_check_unavailable")
    return check


def start(session: Session, ctx: Ctx, *, q: str | None = None, filters: dict[str, Any] | None = None,
          sort: str | None = "new", fields: list[str] | None = None, purpose: str | None = None,
          use: str | None = None, fmt: str | None = "csv", plaintext: bool = False, approval_id: str | None = None,
          consent: hooks.ConsentCheck | None = None) -> Outcome:
    """Check and record an export; level-1 plain text needs `approval_id` of a matching approval, else one is requested."""
    _require_export_grant(ctx)
    spec = _check(ctx, q=q, filters=filters, sort=sort, fields=fields, purpose=purpose, use=use, fmt=fmt,
                  plaintext=plaintext)
    check = _consent(spec, consent)
    waiting = _waiting(session, ctx, approval_id) if approval_id else None
    export = waiting or _record(session, ctx, spec)
    if spec.plain and not approval_id:
        return _ask_approval(session, ctx, spec, export)
    export.format = spec.fmt
    return _go(session, ctx, spec, export, approval_id=approval_id, consent=check)


def _waiting(session: Session, ctx: Ctx, approval_id: str) -> Export | None:
    """The caller's export that waits for this approval (run through the API with the full request)."""
    if not ID.fullmatch(approval_id):
        return None
    return session.execute(select(Export).where(
        Export.approval_id == approval_id, Export.requested_by == ctx.principal.user_id,
        Export.status == "awaiting_approval").with_for_update()).scalar_one_or_none()


def _record(session: Session, ctx: Ctx, spec: _Spec) -> Export:
    criteria = {"filters": spec.filters, "sort": spec.sort, "search": bool(spec.q)}
    export = Export(id=new_id(), requested_by=ctx.principal.user_id, created_at=utcnow(), status="running",
                    format=spec.fmt, use=spec.use, purpose=spec.purpose,
                    fields=",".join(f"customer.{n}" for n in spec.fields),
                    plaintext=",".join(f"customer.{n}" for n in spec.plain) or None,
                    criteria=json.dumps(criteria, ensure_ascii=False, sort_keys=True))
    session.add(export)
    return export


def _ask_approval(session: Session, ctx: Ctx, spec: _Spec, export: Export) -> Outcome:
    """Keep the export waiting and ask a second person; the search text is sealed until the export runs."""
    export.status = "awaiting_approval"
    if spec.q:
        key, export.q_key = ctx.kehu.crypto.new_data_key(owner=f"export:{export.id}")
        export.q_sealed = ctx.kehu.crypto.encrypt(key, spec.q, table="exports", field="q", row_id=export.id)
    session.flush()
    approval = approvals.request(session, ctx, kind=KIND.code, summary=_summary(session, ctx, spec),
                                 payload=_payload(ctx, spec), rights=_rights(ctx, spec), subject_id=export.id)
    export.approval_id = approval.id
    ctx.audit(session, action="export.request", target_type="export", target_id=export.id,
              fields=[f"customer.{n}" for n in spec.fields], reason=spec.purpose,
              detail={"approval_id": approval.id, "plaintext": [f"customer.{n}" for n in spec.plain],
                      "format": spec.fmt, "use": spec.use})
    return Outcome(export_id=export.id, approval=approvals.as_dict(ctx, session, approval))


def _go(session: Session, ctx: Ctx, spec: _Spec, export: Export, *, approval_id: str | None,
        consent: hooks.ConsentCheck | None) -> Outcome:
    """Consume the approval (if any), record the start and return the plan the writer streams."""
    if approval_id:
        approval = approvals.consume(session, ctx, approval_id=approval_id, kind=KIND.code,
                                     payload=_payload(ctx, spec))
        export.approval_id = approval.id
    elif spec.plain:  # defensive: plain text never leaves without an approval
        raise Forbidden("一级字段明文导出须经另一位有权限人员审批", code="approval_required")
    export.status, export.q_sealed, export.q_key = "running", None, None
    where = conditions(session, ctx, spec.q) + filter_conditions(session, ctx, spec.filters)
    now = utcnow()
    p = ctx.principal
    watermark = (f"导出水印｜导出人：{p.display_name}（{p.username}）｜导出时间：{now.astimezone(CST):%Y-%m-%d %H:%M:%S} "
                 f"UTC+8｜用途：{spec.purpose}（{USES[spec.use]}）｜导出编号：{export.id}｜仅限上述用途使用，不得外传")
    ctx.audit(session, action="export.start", target_type="export", target_id=export.id,
              fields=[f"customer.{n}" for n in spec.fields], reason=spec.purpose,
              detail={"format": spec.fmt, "use": spec.use, "filters": spec.filters, "search": bool(spec.q),
                      "sort": spec.sort, "plaintext": [f"customer.{n}" for n in spec.plain],
                      "approval_id": export.approval_id})
    plan = Plan(export_id=export.id, ctx=ctx, where=where, sort=spec.sort, fields=spec.fields,
                plain=frozenset(spec.plain), fmt=spec.fmt, use=spec.use, watermark=watermark,
                filename=f"customers-{now.astimezone(CST):%Y%m%d-%H%M%S}-{export.id[-6:]}.{spec.fmt}",
                consent=consent)
    return Outcome(export_id=export.id, plan=plan)


def download(session: Session, ctx: Ctx, *, export_id: str, fmt: str | None = None,
             consent: hooks.ConsentCheck | None = None) -> Outcome:
    """Run an export that waited for approval, exactly as requested (the approval is verified and consumed)."""
    export = session.execute(select(Export).where(Export.id == export_id).with_for_update()).scalar_one_or_none() \
        if ID.fullmatch(export_id or "") else None
    if export is None or export.requested_by != ctx.principal.user_id:
        raise NotFound()
    if export.status != "awaiting_approval" or not export.approval_id:
        raise Conflict("该导出不在待审批状态，不能再次下载；如需再次导出请重新提交", code="export_not_waiting")
    _require_export_grant(ctx)
    q = None
    if export.q_sealed:
        key = ctx.kehu.crypto.unwrap(export.q_key, owner=f"export:{export.id}")
        q = ctx.kehu.crypto.decrypt(key, export.q_sealed, table="exports", field="q", row_id=export.id)
    criteria = json.loads(export.criteria)
    spec = _check(ctx, q=q, filters=criteria["filters"], sort=criteria["sort"],
                  fields=[k.split(".", 1)[1] for k in export.fields.split(",")], purpose=export.purpose,
                  use=export.use, fmt=fmt or export.format, plaintext=bool(export.plaintext))
    export.format = spec.fmt
    return _go(session, ctx, spec, export, approval_id=export.approval_id, consent=_consent(spec, consent))


def finish(session: Session, ctx: Ctx, *, export_id: str, fields: list[str], rows: int, excluded: int,
           completed: bool) -> None:
    """Record how an export ended: rows written, customers left out for want of consent (audited)."""
    export = session.get(Export, export_id)
    if export is not None:
        export.status, export.row_count, export.excluded, export.finished_at = \
            ("done" if completed else "aborted"), rows, excluded, utcnow()
    ctx.audit(session, action="export.finish", target_type="export", target_id=export_id,
              fields=[f"customer.{n}" for n in fields],
              detail={"rows": rows, "excluded": excluded, "completed": completed})


def _as_dict(ctx: Ctx, session: Session, e: Export) -> dict[str, Any]:
    approval = approvals.get(session, ctx, approval_id=e.approval_id) if e.approval_id else None
    return {"id": e.id, "status": e.status, "format": e.format, "use": e.use, "use_label": USES.get(e.use, e.use),
            "purpose": e.purpose, "fields": e.fields.split(","),
            "labels": [ctx.catalog.fields[k].label for k in e.fields.split(",") if k in ctx.catalog.fields],
            "plaintext": e.plaintext.split(",") if e.plaintext else [], "criteria": json.loads(e.criteria),
            "created_at": e.created_at.isoformat(), "finished_at": e.finished_at.isoformat() if e.finished_at else None,
            "rows": e.row_count, "excluded": e.excluded, "approval": approval,
            "downloadable": e.status == "awaiting_approval" and bool(approval) and approval["status"] == "approved"}


def get(session: Session, ctx: Ctx, *, export_id: str) -> dict[str, Any]:
    """One of the caller's own exports with its approval."""
    e = session.get(Export, export_id) if ID.fullmatch(export_id or "") else None
    if e is None or e.requested_by != ctx.principal.user_id:
        raise NotFound()
    return _as_dict(ctx, session, e)


def list_(session: Session, ctx: Ctx, *, before: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The caller's own exports, newest first."""
    limit = max(1, min(int(limit), 200))
    stmt = select(Export).where(Export.requested_by == ctx.principal.user_id)
    if before and ID.fullmatch(before):
        stmt = stmt.where(Export.id < before)
    rows = list(session.execute(stmt.order_by(Export.id.desc()).limit(limit)).scalars())
    return {"items": [_as_dict(ctx, session, e) for e in rows], "next_before": rows[-1].id if len(rows) == limit else None}
