"""The data subject's copy (个人信息副本): everything held about one customer, produced from the catalogue.

Every catalogued entity contributes its rows found through its declared link; values go through the
presenter with every field revealed (so the handler's own rights still apply: a value they may not see
stays masked or hidden — the built-in 信息管理员 sees all). Also: the change history, the audit of
who accessed this customer's data (never entries about other customers), the shares that included
the customer, and rows of uncatalogued tables held under the customer (`customer_id`).
"""
from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

from sqlalchemy import LargeBinary, select
from sqlalchemy.orm import Session

from kehu.audit.models import AuditEntry
from kehu.catalog.presenter import json_value, present
from kehu.catalog.registry import data_models
from kehu.customers import repository as customers
from kehu.customers.changes import CREATED
from kehu.customers.models import History
from kehu.customers.service import minor_of, vault_of
from kehu.errors import Conflict, NotFound
from kehu.privacy import erasure, links, sharing
from kehu.privacy import requests as register
from kehu.runtime import Ctx

COPY_KINDS = ("access", "copy")


def _history(session: Session, ctx: Ctx, customer, vault) -> list[dict[str, Any]]:
    users, _ = ctx.names(session)
    out = []
    for r in session.execute(select(History).where(History.customer_id == customer.id).order_by(History.seq)).scalars():
        item = {"changed_at": r.changed_at.isoformat(), "changed_by": users.get(r.changed_by, r.changed_by),
                "entity": r.entity, "field": r.field, "op": r.op, "reason": r.reason}
        spec = ctx.catalog.fields.get(f"{r.entity}.{r.field}")
        if r.field == CREATED:
            item["label"] = "建立档案"
        elif spec is not None:
            item["label"] = spec.label
            for key in ("old_value", "new_value"):
                blob = getattr(r, key)
                if blob is not None and spec.encrypted:
                    blob = vault.open(blob, table="customer_history", field=f"{key.split('_')[0]}:{spec.key}",
                                      row_id=r.id).encode()
                item[key] = blob.decode() if blob is not None else None
        out.append(item)
    return out


def _other(session: Session, customer) -> dict[str, list[dict[str, Any]]]:
    """Rows of uncatalogued tables held under the customer (e.g. pool stays, tags), non-binary columns as stored."""
    out = {}
    for table in erasure.held_tables():
        if table.name == History.__tablename__:
            continue
        cols = [c for c in table.c if not isinstance(c.type, LargeBinary) and c.name != "customer_id"]
        rows = session.execute(select(*cols).where(table.c.customer_id == customer.id)).all()
        if rows:
            out[table.name] = [{c.name: json_value(v) for c, v in zip(cols, r)} for r in rows]
    return out


def _accesses(session: Session, customer) -> list[dict[str, Any]]:
    """Audit entries about this customer: who, when, what, which fields (keys only)."""
    rows = session.execute(select(AuditEntry).where(
        (AuditEntry.customer_no == customer.archive_no) | (AuditEntry.target_id == customer.id)).order_by(AuditEntry.seq))
    return [{"at": e.ts.isoformat(), "who": e.actor_name, "action": e.action, "outcome": e.outcome,
             "fields": e.fields.split(",") if e.fields else []} for e in rows.scalars()]


def build(session: Session, ctx: Ctx, *, customer_no: str) -> dict[str, Any]:
    """The copy as a JSON-ready dict: {customer_no, entities: {entity: {label, fields, records}}, history, accesses}."""
    customer = customers.get_by_no(session, ctx.principal, customer_no)
    if customer is None:
        raise NotFound()
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    entities: dict[str, Any] = {}
    touched: list[str] = []
    for entity, cls in data_models().items():
        specs = ctx.catalog.of(entity)
        names = frozenset(s.name for s in specs)
        rows = session.execute(select(cls).where(cls.id.in_(links.owned_ids(entity, customer.id)))
                               .order_by(cls.id)).scalars().all()
        records = []
        for row in rows:
            shown = present(ctx.principal, ctx.catalog, entity, row, vault, minor=minor, revealed=names)
            records.append(shown.as_dict())
        entities[entity] = {"fields": {s.name: {"label": s.label, "level": s.level, "category": s.category,
                                                "retention": s.retention} for s in specs},
                            "records": records}
        if records:
            touched += [s.key for s in specs]
    ctx.audit(session, action="privacy.copy", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=touched)
    return {"customer_no": customer.archive_no, "produced_at": date.today().isoformat(), "entities": entities,
            "history": _history(session, ctx, customer, vault), "accesses": _accesses(session, customer),
            "shares": sharing.of_customer(session, customer.archive_no), "other": _other(session, customer)}


def for_request(session: Session, ctx: Ctx, *, request_no: str) -> dict[str, Any]:
    """The copy answering a verified access/copy request."""
    req = register.get(session, ctx, request_no=request_no)
    register.require_verified(req)
    if req.kind not in COPY_KINDS:
        raise Conflict("只有查阅或复制请求可生成副本", code="wrong_kind")
    return build(session, ctx, customer_no=req.customer_no)


def to_json(copy: dict[str, Any]) -> bytes:
    """Machine-readable form (UTF-8 JSON)."""
    return json.dumps(copy, ensure_ascii=False, indent=1).encode("utf-8")


def to_xlsx(copy: dict[str, Any]) -> bytes:
    """Readable workbook: one sheet per entity with records, plus 变更历史 and 访问记录."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for entity, part in copy["entities"].items():
        if not part["records"]:
            continue
        ws = wb.create_sheet(entity[:31])
        names = list(part["fields"])
        ws.append([part["fields"][n]["label"] for n in names])
        for rec in part["records"]:
            ws.append([rec.get(n) if n in rec else ("(隐藏)" if n in rec.get("_hidden", []) else None) for n in names])
    hist = wb.create_sheet("变更历史")
    hist.append(["时间", "操作人", "对象", "字段", "操作", "原值", "新值", "原因"])
    for h in copy["history"]:
        hist.append([h["changed_at"], h["changed_by"], h["entity"], h.get("label", h["field"]), h["op"],
                     h.get("old_value"), h.get("new_value"), h["reason"]])
    shared = wb.create_sheet("对外共享")
    shared.append(["时间", "接收方", "目的", "字段", "合法性基础", "保密协议"])
    for sh in copy["shares"]:
        shared.append([sh["produced_at"], sh["recipient"], sh["purpose"], ",".join(sh["fields"]), sh["legal_basis"],
                       sh["agreement_ref"]])
    for name, rows in copy["other"].items():
        ws = wb.create_sheet(name[:31])
        ws.append(list(rows[0]))
        for row in rows:
            ws.append(list(row.values()))
    acc = wb.create_sheet("访问记录")
    acc.append(["时间", "人员", "操作", "结果", "涉及字段"])
    for a in copy["accesses"]:
        acc.append([a["at"], a["who"], a["action"], a["outcome"], ",".join(a["fields"])])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
