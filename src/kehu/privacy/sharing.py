"""Sharing with third parties (共享审批): request → a second person's approval (`kehu.approvals`, kind `share`)
→ the file produced once, through the export package's writer and the one presenter → recorded.

The payload approved is exactly the share: recipient, purpose, field keys, archive numbers, legal basis,
agreement reference, expiry. Each customer shared gets an audit entry `privacy.share` (field keys), so
the share appears in that customer's copy; the share register is listed there too.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.approvals import service as approvals
from kehu.approvals.kinds import Kind, register
from kehu.customers import repository as customers
from kehu.customers.models import Customer
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.exports import service as exports
from kehu.kit.ids import new_id
from kehu.privacy.models import LEGAL_BASES, Share
from kehu.runtime import Ctx

APPROVE = "approve_share"
SHARE = register(Kind(code="share", label="第三方共享", capability=APPROVE, decide_within=timedelta(days=7),
                      use_within=timedelta(days=3), page="/privacy/shares/{subject_id}"))
MAX_CUSTOMERS = 1000


def payload(share: Share) -> dict[str, Any]:
    """What exactly the approval covers (references only: field keys, archive numbers)."""
    return {"share": share.id, "recipient": share.recipient, "purpose": share.purpose, "fields": share.fields,
            "customers": json.loads(share.customer_nos), "legal_basis": share.legal_basis,
            "agreement": share.agreement_ref, "expires_on": share.expires_on.isoformat()}


def _check(session: Session, ctx: Ctx, *, recipient: str, purpose: str, fields: list[str], customer_nos: list[str],
           legal_basis: str, agreement_ref: str, expires_on: date | None, today: date) -> list:
    errors = []
    if not 2 <= len(recipient) <= 200:
        errors.append(FieldError("recipient", "required", "请填写接收方（2至200个字）"))
    if not 2 <= len(purpose) <= 1000:
        errors.append(FieldError("purpose", "required", "请填写共享目的（2至1000个字）"))
    specs = []
    unknown = [f for f in fields if f not in {s.name for s in ctx.catalog.of("customer")}]
    if not fields or unknown:
        errors.append(FieldError("fields", "invalid", "请选择要共享的字段" + (f"（未知：{'、'.join(unknown)}）" if unknown else "")))
    else:
        specs = [ctx.catalog.get("customer", f) for f in fields]
        denied = [s.label for s in specs if not (policy.may(ctx.principal, "share", s) and policy.may(ctx.principal, "export", s))]
        if denied:
            errors.append(FieldError("fields", "forbidden", f"无权共享：{'、'.join(denied)}"))
    if not customer_nos or len(customer_nos) > MAX_CUSTOMERS:
        errors.append(FieldError("customer_nos", "required", f"请选择1至{MAX_CUSTOMERS}个客户"))
    if legal_basis not in dict(LEGAL_BASES):
        errors.append(FieldError("legal_basis", "invalid_choice", "请选择合法性基础"))
    if not 2 <= len(agreement_ref) <= 100:
        errors.append(FieldError("agreement_ref", "required", "请填写保密协议编号"))
    if expires_on is None or expires_on <= today:
        errors.append(FieldError("expires_on", "invalid", "到期日须晚于今天"))
    if errors:
        raise ValidationFailed(errors)
    found = set(session.execute(select(Customer.archive_no).where(
        Customer.archive_no.in_(customer_nos), customers.readable(ctx.principal))).scalars())
    if found != set(customer_nos):
        raise NotFound()
    return specs


def request(session: Session, ctx: Ctx, *, recipient: str | None, purpose: str | None, fields: list[str],
            customer_nos: list[str], legal_basis: str | None, agreement_ref: str | None, expires_on: date | None,
            today: date) -> Share:
    """Ask to share these fields of these customers; a second person holding `approve_share` decides."""
    recipient, purpose, agreement_ref = (recipient or "").strip(), (purpose or "").strip(), (agreement_ref or "").strip()
    nos = sorted(set(customer_nos))
    specs = _check(session, ctx, recipient=recipient, purpose=purpose, fields=fields, customer_nos=nos,
                   legal_basis=legal_basis or "", agreement_ref=agreement_ref, expires_on=expires_on, today=today)
    share = Share(id=new_id(), recipient=recipient, purpose=purpose, fields=",".join(f"customer.{f}" for f in fields),
                  customer_nos=json.dumps(nos), legal_basis=legal_basis, agreement_ref=agreement_ref,
                  expires_on=expires_on, status="awaiting", requested_by=ctx.principal.user_id, requested_at=utcnow())
    session.add(share)
    rights = sorted({("share", s.level) for s in specs} | {("export", s.level) for s in specs}
                    | {("view", s.level) for s in specs})
    approval = approvals.request(session, ctx, kind=SHARE.code, payload=payload(share), rights=rights, subject_id=share.id,
                                 summary=f"向 {recipient} 共享 {len(nos)} 个客户的 {len(specs)} 个字段；目的：{purpose}"[:500])
    share.approval_id = approval.id
    ctx.audit(session, action="privacy.share.request", target_type="share", target_id=share.id,
              fields=share.fields.split(","), reason=purpose, detail={"customers": len(nos), "approval": approval.id})
    return share


def produce(session: Session, ctx: Ctx, *, share_id: str, fmt: str, today: date) -> exports.Plan:
    """Produce an approved share once (its requester): the export plan the writer streams; every customer audited."""
    share = session.get(Share, share_id, with_for_update=True)
    if share is None or share.requested_by != ctx.principal.user_id:
        raise NotFound()
    if share.status != "awaiting":
        raise Conflict("该共享已提供过，不能再次生成", code="share_used")
    if today > share.expires_on:
        raise Conflict("该共享已过期", code="share_expired")
    if fmt not in exports.FORMATS:
        raise ValidationFailed([FieldError("format", "invalid_choice", "格式须为 csv 或 xlsx")])
    approvals.consume(session, ctx, approval_id=share.approval_id, kind=SHARE.code, payload=payload(share))
    share.status, share.produced_at = "produced", utcnow()
    keys = share.fields.split(",")
    names = [k.split(".", 1)[1] for k in keys]
    nos = json.loads(share.customer_nos)
    for no in nos:
        ctx.audit(session, action="privacy.share", target_type="share", target_id=share.id, customer_no=no,
                  fields=keys, reason=share.purpose)
    plain = frozenset(n for n in names if ctx.catalog.get("customer", n).level == 1)
    watermark = (f"第三方共享｜接收方：{share.recipient}｜目的：{share.purpose}｜保密协议：{share.agreement_ref}｜"
                 f"有效期至：{share.expires_on.isoformat()}｜共享编号：{share.id}")
    return exports.Plan(export_id=share.id, ctx=ctx, where=[Customer.archive_no.in_(nos)], sort="archive_no",
                        fields=names, plain=plain, fmt=fmt, use="operations", watermark=watermark,
                        filename=f"share-{share.id[-8:]}.{fmt}", consent=None)


def as_dict(share: Share, users: dict[str, str]) -> dict[str, Any]:
    """JSON form of a share record."""
    return {"id": share.id, "recipient": share.recipient, "purpose": share.purpose, "fields": share.fields.split(","),
            "customers": json.loads(share.customer_nos), "legal_basis": share.legal_basis,
            "legal_basis_label": dict(LEGAL_BASES)[share.legal_basis], "agreement_ref": share.agreement_ref,
            "expires_on": share.expires_on.isoformat(), "status": share.status, "approval_id": share.approval_id,
            "requested_by": users.get(share.requested_by, share.requested_by),
            "requested_at": share.requested_at.isoformat(),
            "produced_at": share.produced_at.isoformat() if share.produced_at else None}


def list_(session: Session, ctx: Ctx, *, customer_no: str | None = None, mine: bool = True) -> list[dict[str, Any]]:
    """Share records: the caller's own, or (approvers) all; optionally those naming one customer."""
    stmt = select(Share).order_by(Share.requested_at.desc()).limit(200)
    if mine and not ctx.principal.has(APPROVE):
        stmt = stmt.where(Share.requested_by == ctx.principal.user_id)
    if customer_no:
        stmt = stmt.where(Share.customer_nos.like(f'%"{customer_no}"%'))
    users, _ = ctx.names(session)
    return [as_dict(s, users) for s in session.execute(stmt).scalars()]


def of_customer(session: Session, customer_no: str) -> list[dict[str, Any]]:
    """Shares that included a customer (for the customer's copy): recipient, purpose, fields, when."""
    rows = session.execute(select(Share).where(Share.customer_nos.like(f'%"{customer_no}"%'),
                                               Share.status == "produced").order_by(Share.produced_at)).scalars()
    return [{"recipient": s.recipient, "purpose": s.purpose, "fields": s.fields.split(","),
             "legal_basis": dict(LEGAL_BASES)[s.legal_basis], "agreement_ref": s.agreement_ref,
             "produced_at": s.produced_at.isoformat()} for s in rows]
