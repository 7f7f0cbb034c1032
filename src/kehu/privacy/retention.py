"""Retention and destruction (保存期限、销毁): what is due, legal holds, two-person approved destruction.

Retention classes come from the catalogue (`catalog.spec.RETENTION`), evaluated per customer/record:
- relationship — 合作关系存续期间及最后一次交易后2年: a customer whose relationship ended (status inactive or
  archived) and whose last transaction or contact is older than RELATIONSHIP_YEARS is erased as a whole;
- accounting — storage-only records (会计档案) of an erased customer are deleted ACCOUNTING_YEARS after creation;
- archive — goes with the archive (erased with it); consent — erased on withdrawal (a rights request).
A destruction is requested (archive page, a verified deletion request, or a retention run), approved
by a second person holding `approve_destruction` (a `kehu.approvals` request of kind `destroy`, whose
payload names exactly the customers, classes and method), then executed by the requester, consuming
the approval in the same transaction; legal holds are re-checked at execution. Its record keeps categories, counts, method, approver and time.
"""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.approvals import service as approvals
from kehu.approvals.kinds import Kind, register
from kehu.access.policy import require_capability
from kehu.catalog.registry import data_models, storage_only
from kehu.catalog.spec import RETENTION
from kehu.customers import repository as customers
from kehu.customers.models import Customer
from kehu.customers.service import minor_of
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.orders.models import Order, Payment
from kehu.pools.service import last_contacts
from kehu.privacy import erasure, links
from kehu.privacy import requests as rights
from kehu.privacy.models import Destruction, LegalHold
from kehu.runtime import Ctx

RELATIONSHIP_YEARS = 2
ACCOUNTING_YEARS = 30
MANAGE, APPROVE = "manage_retention", "approve_destruction"
CHUNK = 5000
METHOD = "逐字段删除/匿名化 + 销毁数据密钥(加密粉碎)"
DESTROY = register(Kind(code="destroy", label="个人信息销毁", capability=APPROVE, decide_within=timedelta(days=7),
                        use_within=timedelta(days=3), page="/privacy/destructions/{subject_id}"))
#: an approver of a destruction must be able to delete data of every level
APPROVER_RIGHTS = [("delete", 1), ("delete", 2), ("delete", 3)]


def _reason(text: str | None, name: str = "reason") -> str:
    value = (text or "").strip()
    if not 2 <= len(value) <= 1000:
        raise ValidationFailed([FieldError(name, "reason_required", "请填写原因（2至1000个字）")])
    return value


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


# legal holds ------------------------------------------------------------------------------------------
def held(session: Session, customer_no: str) -> bool:
    """Whether an active legal hold covers the customer (its own, or a hold on everything)."""
    return session.execute(select(func.count()).select_from(LegalHold).where(
        LegalHold.lifted_at.is_(None),
        or_(LegalHold.customer_no == customer_no, LegalHold.customer_no.is_(None)))).scalar_one() > 0


def place_hold(session: Session, ctx: Ctx, *, customer_no: str | None, reason: str | None) -> LegalHold:
    """Place a legal hold on one customer (or, without a customer, on all destruction)."""
    require_capability(ctx.principal, MANAGE)
    text = _reason(reason)
    if customer_no is not None and session.execute(
            select(Customer.id).where(Customer.archive_no == customer_no)).scalar_one_or_none() is None:
        raise NotFound()
    hold = LegalHold(id=new_id(), customer_no=customer_no, reason=text, placed_by=ctx.principal.user_id,
                     placed_at=utcnow())
    session.add(hold)
    ctx.audit(session, action="privacy.hold.place", target_type="legal_hold", target_id=hold.id,
              customer_no=customer_no, reason=text)
    return hold


def lift_hold(session: Session, ctx: Ctx, *, hold_id: str, reason: str | None) -> LegalHold:
    """Lift a legal hold, with a reason."""
    require_capability(ctx.principal, MANAGE)
    text = _reason(reason)
    hold = session.get(LegalHold, hold_id, with_for_update=True)
    if hold is None:
        raise NotFound()
    if hold.lifted_at is not None:
        raise Conflict("该保全已解除", code="already_lifted")
    hold.lifted_by, hold.lifted_at, hold.lift_reason = ctx.principal.user_id, utcnow(), text
    ctx.audit(session, action="privacy.hold.lift", target_type="legal_hold", target_id=hold.id,
              customer_no=hold.customer_no, reason=text)
    return hold


def list_holds(session: Session, ctx: Ctx, *, active_only: bool = False) -> list[dict[str, Any]]:
    """Legal holds, newest first."""
    require_capability(ctx.principal, MANAGE)
    stmt = select(LegalHold).order_by(LegalHold.placed_at.desc())
    if active_only:
        stmt = stmt.where(LegalHold.lifted_at.is_(None))
    users, _ = ctx.names(session)
    return [{"id": h.id, "customer_no": h.customer_no, "reason": h.reason, "placed_by": users.get(h.placed_by),
             "placed_at": h.placed_at.isoformat(), "lifted_by": users.get(h.lifted_by) if h.lifted_by else None,
             "lifted_at": h.lifted_at.isoformat() if h.lifted_at else None, "lift_reason": h.lift_reason}
            for h in session.execute(stmt).scalars()]


# what is due ----------------------------------------------------------------------------------------------
def due(session: Session, *, today: date) -> list[dict[str, str]]:
    """[{no, class}] of customers with expired data, excluding legal holds."""
    out: list[dict[str, str]] = []
    ended = session.execute(select(Customer.id, Customer.archive_no).where(
        Customer.status.in_(("inactive", "archived")))).all()
    if ended:
        ids = [cid for cid, _ in ended]
        last = last_contacts(session, ids)
        paid = dict(session.execute(select(Order.customer_id, func.max(Payment.paid_on)).join(
            Payment, Payment.order_id == Order.id).where(Order.customer_id.in_(ids)).group_by(Order.customer_id)).all())
        limit = _years_before(today, RELATIONSHIP_YEARS)
        for cid, no in ended:
            dates = [d for d in (last.get(cid), paid.get(cid)) if d is not None]
            if dates and max(dates) < limit:
                out.append({"no": no, "class": "relationship"})
    cutoff = _years_before(today, ACCOUNTING_YEARS)
    for (no,) in session.execute(select(Customer.archive_no).join(Order, Order.customer_id == Customer.id).where(
            Customer.status == erasure.ERASED, Order.created_at < datetime.combine(cutoff, time(), timezone.utc)).distinct()):
        out.append({"no": no, "class": "accounting"})
    holds = set(session.execute(select(LegalHold.customer_no).where(LegalHold.lifted_at.is_(None))).scalars())
    if None in holds:  # a hold on everything
        return []
    return [d for d in out if d["no"] not in holds]


def dry_run(session: Session, ctx: Ctx, *, today: date) -> dict[str, Any]:
    """What a retention run would destroy: per retention class and entity, record counts (no content)."""
    require_capability(ctx.principal, MANAGE)
    items = due(session, today=today)
    counts = _counts(session, items, today=today)
    ctx.audit(session, action="privacy.retention.dry_run", detail={"customers": len(items)})
    return {"as_of": today.isoformat(), "customers": len(items), "categories": counts,
            "held": session.execute(select(func.count()).select_from(LegalHold).where(
                LegalHold.lifted_at.is_(None))).scalar_one()}


def _counts(session: Session, items: list[dict[str, str]], *, today: date) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], int] = {}
    for cls in sorted({i["class"] for i in items}):
        nos = [i["no"] for i in items if i["class"] == cls]
        for start in range(0, len(nos), CHUNK):  # bound the number of bound parameters per statement
            ids = list(session.execute(select(Customer.id).where(
                Customer.archive_no.in_(nos[start:start + CHUNK]))).scalars())
            for entity, model in data_models().items():
                if cls == "accounting" and not storage_only(entity):
                    continue
                table = model.__table__
                n = session.execute(select(func.count()).select_from(table).where(
                    table.c.id.in_(links.owned_ids(entity, ids)))).scalar_one()
                if n:
                    rows[(cls, entity)] = rows.get((cls, entity), 0) + n
    return [{"class": c, "class_label": RETENTION.get(c, c), "entity": e, "count": n}
            for (c, e), n in sorted(rows.items())]


# destruction requests ---------------------------------------------------------------------------------------
def payload(d: Destruction) -> dict[str, Any]:
    """What exactly the approval covers (archive numbers and classes: references, never values)."""
    return {"destruction": d.id, "source": d.source, "customers": json.loads(d.customer_nos), "method": METHOD}


def _new(session: Session, ctx: Ctx, *, source: str, items: list[dict[str, str]], reason: str,
         request_id: str | None = None) -> Destruction:
    d = Destruction(id=new_id(), source=source, customer_nos=json.dumps(items, ensure_ascii=False),
                    request_id=request_id, reason=reason, status="pending", requested_by=ctx.principal.user_id,
                    requested_at=utcnow())
    session.add(d)
    classes = sorted({i["class"] for i in items})
    approval = approvals.request(session, ctx, kind=DESTROY.code, payload=payload(d), rights=APPROVER_RIGHTS, subject_id=d.id,
                                 summary=f"销毁 {len(items)} 个客户的个人信息（{'、'.join(RETENTION.get(c, c)[:12] for c in classes)}）：{reason}"[:500])
    d.approval_id = approval.id
    ctx.audit(session, action="privacy.destruction.request", target_type="destruction", target_id=d.id,
              customer_no=items[0]["no"] if len(items) == 1 else None, reason=reason,
              detail={"source": source, "customers": len(items), "approval": approval.id})
    return d


def request_archive(session: Session, ctx: Ctx, *, customer_no: str, reason: str | None) -> Destruction:
    """Ask to destroy a whole archive (销毁): needs `delete` at every level it holds; a second person approves."""
    text = _reason(reason)
    customer = customers.get_by_no(session, ctx.principal, customer_no)
    if customer is None:
        raise NotFound()
    held_specs = [s for s in ctx.catalog.of("customer") if getattr(customer, s.name) is not None]
    policy.require_fields(ctx.principal, "delete", held_specs, minor=minor_of(customer))
    return _new(session, ctx, source="archive", items=[{"no": customer_no, "class": "archive"}], reason=text)


def request_for_rights(session: Session, ctx: Ctx, *, request_no: str) -> Destruction:
    """Turn a verified deletion / consent-withdrawal request into a destruction awaiting approval."""
    req = rights.get(session, ctx, request_no=request_no, for_update=True)
    rights.require_verified(req)
    if req.kind not in ("deletion", "withdrawal"):
        raise Conflict("只有删除或撤回同意请求可申请销毁", code="wrong_kind")
    return _new(session, ctx, source="request", items=[{"no": req.customer_no, "class": "consent"}],
                reason=f"个人信息权利请求 {req.request_no}", request_id=req.id)


def request_retention(session: Session, ctx: Ctx, *, today: date) -> Destruction | None:
    """A retention run: snapshot what is due into one destruction awaiting approval (None when nothing is due)."""
    require_capability(ctx.principal, MANAGE)
    items = due(session, today=today)
    if not items:
        return None
    return _new(session, ctx, source="retention", items=items, reason=f"保存期限届满（截至 {today.isoformat()}）")


def _load(session: Session, destruction_id: str) -> Destruction:
    d = session.get(Destruction, destruction_id, with_for_update=True)
    if d is None:
        raise NotFound()
    return d


def execute(session: Session, ctx: Ctx, *, destruction_id: str, today: date) -> Destruction:
    """Run an approved destruction (its requester; the approval is consumed in this transaction).

    Held customers are skipped and named in the record.
    """
    d = _load(session, destruction_id)
    if d.status != "pending":
        raise Conflict("该销毁申请已执行", code="invalid_transition")
    approval = approvals.consume(session, ctx, approval_id=d.approval_id, kind=DESTROY.code, payload=payload(d))
    summary: dict[tuple[str, str, str], int] = {}
    skipped, fields = [], set()
    for item in json.loads(d.customer_nos):
        customer = session.execute(select(Customer).where(Customer.archive_no == item["no"]).with_for_update()
                                   ).scalar_one_or_none()
        if customer is None or held(session, item["no"]):
            skipped.append(item["no"])
            continue
        if item["class"] == "accounting":
            parts, keys = _purge_accounting(session, customer, today=today)
        elif customer.status == erasure.ERASED:
            skipped.append(item["no"])
            continue
        else:
            parts, keys = erasure.erase(session, ctx, customer=customer)
        fields |= set(keys)
        for p in parts:
            key = (item["class"], p["entity"], p["method"])
            summary[key] = summary.get(key, 0) + p["count"]
    d.status, d.approved_by, d.decided_at, d.executed_at = "executed", approval.decided_by, approval.decided_at, utcnow()
    d.decision_note, d.method = approval.decision_reason, METHOD
    d.summary = json.dumps({"items": [{"class": c, "entity": e, "method": m, "count": n}
                                      for (c, e, m), n in sorted(summary.items())], "skipped": skipped},
                           ensure_ascii=False)
    if d.request_id:
        from kehu.privacy.models import RightsRequest

        req = session.get(RightsRequest, d.request_id)
        if req is not None and req.status == "verified" and not skipped:
            req.status, req.outcome, req.closed_at = "completed", "已删除（销毁记录 " + d.id + "）", utcnow()
    ctx.audit(session, action="privacy.destruction.execute", target_type="destruction", target_id=d.id,
              fields=sorted(fields), detail={"source": d.source, "skipped": len(skipped),
                                             "records": sum(summary.values())})
    return d


def _purge_accounting(session: Session, customer: Customer, *, today: date) -> tuple[list[dict[str, Any]], list[str]]:
    """Delete storage-only records of an erased customer once their legal period has passed (children first)."""
    cutoff = _years_before(today, ACCOUNTING_YEARS)
    old = [oid for oid, created in session.execute(select(Order.id, Order.created_at).where(
        Order.customer_id == customer.id)) if created.date() < cutoff]
    parts = []
    models = data_models()
    for entity in sorted((e for e in models if storage_only(e)), key=links.depth, reverse=True):
        table = models[entity].__table__
        ids = links.owned_ids(entity, customer.id)
        col = table.c.id if entity == "order" else table.c.get("order_id")
        if col is None:
            continue
        n = session.execute(delete(table).where(table.c.id.in_(ids), col.in_(old))).rowcount
        if n:
            parts.append({"entity": entity, "method": "delete", "count": n})
    return parts, []


def approved_pending(session: Session, ctx: Ctx) -> list[str]:
    """Ids of the caller's pending destructions whose approval has been granted (what a run executes)."""
    from kehu.approvals.models import Approval

    return list(session.execute(select(Destruction.id).join(Approval, Approval.id == Destruction.approval_id).where(
        Destruction.status == "pending", Destruction.requested_by == ctx.principal.user_id,
        Approval.status == "approved", Approval.expires_at > utcnow()).order_by(Destruction.requested_at)).scalars())


def list_destructions(session: Session, ctx: Ctx, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Destruction requests and records, newest first (categories and counts, never content)."""
    if not (ctx.principal.has(MANAGE) or ctx.principal.has(APPROVE)):
        raise Forbidden()
    stmt = select(Destruction).order_by(Destruction.requested_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(Destruction.status == status)
    users, _ = ctx.names(session)
    return [as_dict(d, users) for d in session.execute(stmt).scalars()]


def as_dict(d: Destruction, users: dict[str, str]) -> dict[str, Any]:
    """JSON form of a destruction."""
    return {"id": d.id, "source": d.source, "customers": json.loads(d.customer_nos), "reason": d.reason,
            "status": d.status, "method": d.method, "summary": json.loads(d.summary) if d.summary else None,
            "requested_by": users.get(d.requested_by, d.requested_by), "requested_at": d.requested_at.isoformat(),
            "approved_by": users.get(d.approved_by, d.approved_by) if d.approved_by else None,
            "decided_at": d.decided_at.isoformat() if d.decided_at else None,
            "executed_at": d.executed_at.isoformat() if d.executed_at else None, "decision_note": d.decision_note,
            "approval_id": d.approval_id}
