"""Payments (回款): plans, actual receipts, overdue receivables (as of a given day), account reveal."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from kehu import events
from kehu.access import policy
from kehu.access.models import User
from kehu.catalog.presenter import json_value, present, read_fields
from kehu.customers.service import minor_of, reveal_record, vault_of
from kehu.errors import FieldError, Forbidden, NotFound, ValidationFailed
from kehu.interactions.service import clean_record, insert_record
from kehu.kit.masking import mask
from kehu.orders import repository as repo
from kehu.orders.models import Payment, PaymentPlan
from kehu.orders.service import ensure_open, load
from kehu.runtime import Ctx

ZERO = Decimal("0.00")
MODELS = {"payment_plan": PaymentPlan, "payment": Payment}


def allocate(plans: list[PaymentPlan], paid: Decimal) -> list[tuple[PaymentPlan, Decimal]]:
    """(plan, outstanding) with actual payments applied to plans oldest-due first (FIFO)."""
    out = []
    for plan in plans:
        used = min(plan.amount, paid)
        paid -= used
        out.append((plan, plan.amount - used))
    return out


def add(session: Session, ctx: Ctx, *, order_no: str, entity: str, data: dict[str, Any]) -> dict[str, Any]:
    """Plan a payment (`payment_plan`) or record an actual one (`payment`); sums may not exceed the order total."""
    order, customer = load(session, ctx, order_no, for_update=True)
    ensure_open(order)
    values, errors = clean_record(ctx, entity, data)
    if values.get("amount") is not None and values["amount"] <= 0:
        errors.append(FieldError("amount", "amount_not_positive", "金额：应大于0"))
    if entity == "payment":
        values["handler_id"] = values.get("handler_id") or ctx.principal.user_id
        user = session.get(User, values["handler_id"])
        if user is None or not user.active:
            errors.append(FieldError("handler_id", "handler_not_found", "经办人不存在或已停用"))
    if not errors:
        existing = repo.plans(session, order.id) if entity == "payment_plan" else repo.payments(session, order.id)
        if sum((r.amount for r in existing), ZERO) + values["amount"] > order.total_amount:
            what = "计划回款" if entity == "payment_plan" else "实际回款"
            errors.append(FieldError("amount", f"{entity}_exceeds_total", f"{what}合计不能超过合同金额"))
    if errors:
        raise ValidationFailed(errors)
    minor = minor_of(customer)
    record, vault = insert_record(session, ctx, customer=customer, model=MODELS[entity], entity=entity,
                                  values=values, parent={"order_id": order.id}, detail={"order_no": order.order_no})
    events.stage(session, "payment.planned" if entity == "payment_plan" else "payment.recorded",
                 order_id=order.id, order_no=order.order_no, customer_id=customer.id,
                 customer_no=customer.archive_no, record_id=record.id)
    return {"id": record.id, **present(ctx.principal, ctx.catalog, entity, record, vault, minor=minor).as_dict()}


def _amount_state(ctx: Ctx) -> tuple[str, Any]:
    """How computed sums are shown: like the plan amount they derive from (hidden / masked / plain)."""
    spec = ctx.catalog.get("payment_plan", "amount")
    pay = ctx.catalog.get("payment", "amount")
    states = {policy.display_state(ctx.principal, s) for s in (spec, pay)}
    state = "hidden" if "hidden" in states else "masked" if "masked" in states else "plain"
    return state, spec


def _sum(state: str, spec: Any, value: Decimal) -> Any:
    if state == "plain":
        return json_value(value)
    return mask(spec.mask if spec.mask != "none" else "all", json_value(value))


def summary(session: Session, ctx: Ctx, *, order_no: str, today: date) -> dict[str, Any]:
    """Plans (each with its outstanding amount and overdue flag), actual payments and totals of an order."""
    order, customer = load(session, ctx, order_no)
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    plans, pays = repo.plans(session, order.id), repo.payments(session, order.id)
    paid_to_date = sum((p.amount for p in pays if p.paid_on <= today), ZERO)
    state, spec = _amount_state(ctx)
    users, _ = ctx.names(session)
    plan_rows = []
    for plan, outstanding in allocate(plans, paid_to_date):
        row = {"id": plan.id, **present(ctx.principal, ctx.catalog, "payment_plan", plan, vault, minor=minor).as_dict(),
               "overdue": outstanding > 0 and plan.due_on < today}
        if state != "hidden":
            row["outstanding"] = _sum(state, spec, outstanding)
        plan_rows.append(row)
    pay_rows = []
    for p in pays:
        row = {"id": p.id, **present(ctx.principal, ctx.catalog, "payment", p, vault, minor=minor).as_dict()}
        if "handler_id" in row:
            row["handler_name"] = users.get(p.handler_id)
        pay_rows.append(row)
    body: dict[str, Any] = {"order_no": order.order_no, "customer_no": customer.archive_no, "as_of": today.isoformat(),
                            "plans": plan_rows, "payments": pay_rows}
    if state != "hidden":
        due = sum((p.amount for p in plans if p.due_on < today), ZERO)
        body["totals"] = {k: _sum(state, spec, v) for k, v in {
            "order_amount": order.total_amount, "planned": sum((p.amount for p in plans), ZERO),
            "paid": sum((p.amount for p in pays), ZERO), "overdue": max(ZERO, due - paid_to_date)}.items()}
    fields = [f"{e}.{n}" for e, rows in (("payment_plan", plan_rows), ("payment", pay_rows)) if rows
              for n in read_fields(ctx.principal, ctx.catalog, e, minor=minor)]
    ctx.audit(session, action="payment.list", target_type="order", target_id=order.id,
              customer_no=customer.archive_no, fields=fields + (["order.total_amount"] if state != "hidden" else []))
    return body


def reveal(session: Session, ctx: Ctx, *, order_no: str, payment_id: str, fields: list[str],
           reason: str | None) -> dict[str, Any]:
    """Plain payment fields (the account): reveal right at their level and a reason; audited as customer.reveal."""
    order, customer = load(session, ctx, order_no)
    record = repo.payment(session, order.id, payment_id)
    if record is None:
        raise NotFound()
    return reveal_record(session, ctx, customer=customer, entity="payment", record=record, fields=fields,
                         reason=reason)


def overdue(session: Session, ctx: Ctx, *, today: date, customer_no: str | None = None, cursor: str | None = None,
            limit: int = 100) -> dict[str, Any]:
    """Overdue receivables as of `today`: planned payments due before it and not covered by payments (FIFO).

    Per order (newest first, keyset-paginated) and summed per customer over the returned orders.
    """
    limit = max(1, min(int(limit or 100), 500))
    state, spec = _amount_state(ctx)
    if state == "hidden" and ctx.principal.sees_customers:
        raise Forbidden("无权查看回款金额", code="forbidden_view")
    if cursor is not None and (len(cursor) != 32 or not cursor.isalnum()):
        raise ValidationFailed([FieldError("cursor", "invalid_cursor", "分页参数无效")])
    rows = repo.overdue_orders(session, ctx.principal, today=today, customer_no=customer_no, before=cursor,
                               limit=limit + 1)
    nxt = rows[limit - 1][0].id if len(rows) > limit else None
    rows = rows[:limit]
    plans = repo.plans_of(session, [o.id for o, *_ in rows])
    orders, customers = [], {}
    for order, customer, due, paid in rows:
        amount = due - paid
        late = [(p, left) for p, left in allocate(plans[order.id], paid) if left > 0 and p.due_on < today]
        oldest = late[0][0].due_on if late else None
        orders.append({"order_no": order.order_no, "customer_no": customer.archive_no, "status": order.status,
                       "overdue_amount": _sum(state, spec, amount), "overdue_plans": len(late),
                       "oldest_due_on": oldest.isoformat() if oldest else None,
                       "days_overdue": (today - oldest).days if oldest else 0})
        c = customers.setdefault(customer.archive_no, {"customer_no": customer.archive_no, "amount": ZERO,
                                                       "orders": 0, "days_overdue": 0})
        c["amount"] += amount
        c["orders"] += 1
        c["days_overdue"] = max(c["days_overdue"], orders[-1]["days_overdue"])
    by_customer = [{"customer_no": c["customer_no"], "overdue_amount": _sum(state, spec, c["amount"]),
                    "orders": c["orders"], "days_overdue": c["days_overdue"]} for c in customers.values()]
    if orders:
        ctx.audit(session, action="receivable.overdue", target_type="order",
                  fields=["payment_plan.amount", "payment_plan.due_on", "payment.amount", "payment.paid_on"],
                  detail={"records": [o["order_no"] for o in orders], "as_of": today.isoformat()})
    return {"as_of": today.isoformat(), "orders": orders, "customers": by_customer, "next_cursor": nxt}


