"""Business rules of orders/contracts: numbering, items and totals, status and delivery. Never commits."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from kehu import events
from kehu.access import policy
from kehu.catalog.presenter import present, read_fields
from kehu.catalog.validation import clean
from kehu.catalog.vault import to_text
from kehu.customers.changes import history_row
from kehu.customers.models import Customer, History
from kehu.customers.service import _reason, minor_of, vault_of
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.interactions.service import clean_record, load_customer, require_create, store
from kehu.kit.ids import new_id
from kehu.orders import repository as repo
from kehu.orders.models import ORDER_STATUSES, TRANSITIONS, Order, OrderItem
from kehu.runtime import Ctx

CENT = Decimal("0.01")
UPDATABLE = ("status", "delivery_status", "terms", "start_on", "end_on", "signer")
LIST_FIELDS = ["order_no", "status", "delivery_status", "total_amount", "start_on", "end_on"]


def load(session: Session, ctx: Ctx, order_no: str, *, for_update: bool = False) -> tuple[Order, Customer]:
    """An order whose customer is in the caller's scope (404 otherwise)."""
    found = repo.get_order(session, ctx.principal, order_no, for_update=for_update)
    if found is None:
        raise NotFound()
    return found


def _dates(start: Any, end: Any, errors: list[FieldError]) -> None:
    if start is not None and end is not None and end < start:
        errors.append(FieldError("end_on", "end_before_start", "结束日期不能早于开始日期"))


def _items(session: Session, ctx: Ctx, raw_items: list[dict], errors: list[FieldError]) -> list[dict[str, Any]]:
    if not raw_items:
        errors.append(FieldError("items", "required", "请至少填写一项产品明细"))
        return []
    items = []
    for i, raw in enumerate(raw_items):
        prefix = f"items[{i}]."
        values, errs = clean_record(ctx, "order_item", raw, prefix=prefix)
        errors += errs
        if errs:
            continue
        product = repo.product_by_ref(session, values["product_id"])
        if product is None or not product.active:
            errors.append(FieldError(prefix + "product_id", "product_not_found", "产品不存在或已停用"))
            continue
        values["product_id"] = product.id
        if values["quantity"] <= 0:
            errors.append(FieldError(prefix + "quantity", "quantity_not_positive", "数量：应大于0"))
            continue
        amount = (values["quantity"] * values["unit_price"]).quantize(CENT, rounding=ROUND_HALF_UP)
        if values.get("amount") is not None and values["amount"] != amount:
            errors.append(FieldError(prefix + "amount", "amount_mismatch", f"金额：应等于数量×单价（{amount}）"))
            continue
        values["amount"] = amount
        items.append(values)
    return items


def create(session: Session, ctx: Ctx, *, customer_no: str | None, data: dict[str, Any],
           items: list[dict[str, Any]]) -> dict[str, Any]:
    """Create an order/contract with its items for a customer in scope; total = Σ item amounts."""
    customer = load_customer(session, ctx, customer_no, writing=True) if customer_no else None
    values, errors = clean_record(ctx, "order", data)
    if customer is None:
        errors.insert(0, FieldError("customer_no", "required", "请填写客户档案编号"))
    lines = _items(session, ctx, items, errors)
    _dates(values.get("start_on"), values.get("end_on"), errors)
    if errors:
        raise ValidationFailed(errors)
    total = sum((it["amount"] for it in lines), Decimal("0.00"))
    if total >= Decimal("1e16"):
        raise ValidationFailed([FieldError("items", "decimal_range", "合同金额超出范围")])
    minor = minor_of(customer)
    require_create(ctx, "order", values, minor=minor, also=("total_amount",))
    require_create(ctx, "order_item", {k: 1 for it in lines for k, v in it.items() if v is not None}, minor=minor)
    now = utcnow()
    order = Order(id=new_id(), customer_id=customer.id, order_no=repo.next_order_no(session, now.year),
                  total_amount=total, status="draft", delivery_status="pending", created_by=ctx.principal.user_id,
                  created_at=now, updated_at=now)
    vault = vault_of(ctx, customer)
    store(ctx, vault, order, "order", {k: v for k, v in values.items() if v is not None})
    for n, it in enumerate(lines, 1):
        item = OrderItem(id=new_id(), order_id=order.id, customer_id=customer.id, line_no=n)
        store(ctx, vault, item, "order_item", it)
        order.items.append(item)
    session.add(order)
    session.flush()
    fields = sorted({f"order.{k}" for k, v in values.items() if v is not None} | {"order.total_amount"}
                    | {f"order_item.{k}" for it in lines for k in it})
    ctx.audit(session, action="order.create", target_type="order", target_id=order.id,
              customer_no=customer.archive_no, fields=fields)
    events.stage(session, "order.created", order_id=order.id, order_no=order.order_no, customer_id=customer.id,
                 customer_no=customer.archive_no)
    return shown(session, ctx, order, customer)


def shown(session: Session, ctx: Ctx, order: Order, customer: Customer, *, items: bool = True) -> dict[str, Any]:
    """An order (and its items) as the caller may see it."""
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    body = {"customer_no": customer.archive_no,
            **present(ctx.principal, ctx.catalog, "order", order, vault, minor=minor,
                      only=None if items else LIST_FIELDS).as_dict(),
            "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat()}
    if items:
        products = repo.products_by_ids(session, {i.product_id for i in order.items})
        body["items"] = []
        for item in order.items:
            line = {"line_no": item.line_no,
                    **present(ctx.principal, ctx.catalog, "order_item", item, vault, minor=minor).as_dict()}
            product = products.get(item.product_id)
            if "product_id" in line and product is not None:  # what was bought is shown only with the item
                line.update(product_code=product.code, product_name=product.name)
            body["items"].append(line)
    return body


def get(session: Session, ctx: Ctx, *, order_no: str) -> dict[str, Any]:
    """One order with its items; the read is audited."""
    order, customer = load(session, ctx, order_no)
    body = shown(session, ctx, order, customer)
    minor = minor_of(customer)
    fields = [f"order.{n}" for n in read_fields(ctx.principal, ctx.catalog, "order", minor=minor)]
    fields += [f"order_item.{n}" for n in read_fields(ctx.principal, ctx.catalog, "order_item", minor=minor)]
    ctx.audit(session, action="order.read", target_type="order", target_id=order.id,
              customer_no=customer.archive_no, fields=fields)
    return body


def list_(session: Session, ctx: Ctx, *, customer_no: str | None = None, status: str | None = None,
          cursor: str | None = None, limit: int = 20) -> dict[str, Any]:
    """Orders of customers in scope, newest first, filtered by customer and status; audited."""
    limit = max(1, min(int(limit or 20), 100))
    where = []
    if customer_no:
        where.append(Customer.archive_no == customer_no)
    if status:
        if status not in dict(ORDER_STATUSES):
            raise ValidationFailed([FieldError("status", "invalid_choice",
                                               "可选值：" + "、".join(dict(ORDER_STATUSES).values()))])
        where.append(Order.status == status)
    if cursor is not None and (len(cursor) != 32 or not cursor.isalnum()):
        raise ValidationFailed([FieldError("cursor", "invalid_cursor", "分页参数无效")])
    rows = repo.orders_page(session, ctx.principal, where=where, before=cursor, limit=limit + 1)
    nxt = rows[limit - 1][0].id if len(rows) > limit else None
    rows = rows[:limit]
    items = [shown(session, ctx, o, c, items=False) for o, c in rows]
    if items:
        fields = sorted({f"order.{k}" for it in items for k in it if k in LIST_FIELDS
                         and ctx.catalog.get("order", k).level < 3})
        ctx.audit(session, action="order.list", target_type="order", fields=fields,
                  detail={"records": [o.order_no for o, _c in rows]})
    return {"items": items, "next_cursor": nxt}


def update(session: Session, ctx: Ctx, *, order_no: str, data: dict[str, Any], reason: str | None) -> dict[str, Any]:
    """Change status, delivery status, terms, dates or signer; recorded in the customer's history with the reason."""
    order, customer = load(session, ctx, order_no, for_update=True)
    reason = _reason(reason)
    errors = [FieldError(k, "read_only", "该字段创建后不能修改") for k in data
              if k not in UPDATABLE and f"order.{k}" in ctx.catalog.fields]
    try:
        values = clean(ctx.catalog, "order", {k: v for k, v in data.items() if k in UPDATABLE or
                                              f"order.{k}" not in ctx.catalog.fields})
    except ValidationFailed as exc:
        values, errors = {}, errors + list(exc.errors)
    for name in ("status", "delivery_status"):
        if name in values and values[name] is None:
            errors.append(FieldError(name, "required", f"请填写{ctx.catalog.get('order', name).label}"))
    new_status = values.get("status")
    if new_status and new_status != order.status and new_status not in TRANSITIONS.get(order.status, set()):
        labels = dict(ORDER_STATUSES)
        errors.append(FieldError("status", "invalid_transition",
                                 f"合同状态不能从“{labels[order.status]}”改为“{labels[new_status]}”"))
    _dates(values.get("start_on", order.start_on), values.get("end_on", order.end_on), errors)
    if errors:
        raise ValidationFailed(errors)
    minor = minor_of(customer)
    policy.require_fields(ctx.principal, "modify", [ctx.catalog.get("order", k) for k in values], minor=minor)
    vault = vault_of(ctx, customer)
    changed = []
    for name, new in values.items():
        spec = ctx.catalog.get("order", name)
        old = vault.read(order, spec)
        if (None if old is None else to_text(old)) == (None if new is None else to_text(new)):
            continue
        vault.write(order, spec, new)
        session.add(History(**history_row(vault, spec=spec, customer_id=customer.id, record_id=order.id,
                                          op="update", old=old, new=new, reason=reason,
                                          changed_by=ctx.principal.user_id)))
        changed.append(name)
    if changed:
        order.updated_at = utcnow()
        events.stage(session, "order.updated", order_id=order.id, order_no=order.order_no, customer_id=customer.id,
                     customer_no=customer.archive_no, fields=changed, status=order.status,
                     delivery_status=order.delivery_status)
    ctx.audit(session, action="order.update", target_type="order", target_id=order.id,
              customer_no=customer.archive_no, fields=[f"order.{k}" for k in changed], reason=reason)
    return shown(session, ctx, order, customer)


def ensure_open(order: Order) -> None:
    """Payments cannot be planned or recorded on a cancelled or terminated order."""
    if order.status in ("cancelled", "terminated"):
        raise Conflict("该合同已取消或终止", code="order_closed")
