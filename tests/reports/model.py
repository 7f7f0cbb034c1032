"""The reports computed independently: plain Python over the rows, scope by `access.policy.in_scope`.

Written from the report definitions (docs/reports.md), not from the SQL or the cells.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from kehu.access.policy import in_scope

LOCAL = timedelta(hours=8)
INDIRECT = {"third_party", "referral"}
SALES = {"signed", "executing", "completed"}


def month(value) -> str:
    if isinstance(value, datetime):
        return (value + LOCAL).strftime("%Y-%m")
    return value.strftime("%Y-%m")


def visible(principal, customers) -> dict:
    """Customers in scope, by id."""
    return {c.id: c for c in customers if in_scope(principal, owner_id=c.owner_id, department_id=c.department_id,
                                                   importance=c.importance)}


def _removed(c) -> str | None:
    return month(c.updated_at) if c.status == "archived" else None


def _present(c, at: str) -> bool:
    r = _removed(c)
    return month(c.created_at) < at and (r is None or r >= at)


def growth(principal, data, start: str, end: str) -> dict:
    """{segment: (original, new, removed, current)}."""
    out = {"direct": [0, 0, 0, 0], "indirect": [0, 0, 0, 0]}
    for c in visible(principal, data.customers).values():
        seg = out["indirect" if c.source_channel in INDIRECT else "direct"]
        r = _removed(c)
        seg[0] += _present(c, start)
        seg[1] += start <= month(c.created_at) < end
        seg[2] += r is not None and start <= r < end
        seg[3] += _present(c, end)
    out["all"] = [a + b for a, b in zip(out["direct"], out["indirect"])]
    return {k: tuple(v) for k, v in out.items()}


def order_month(o) -> str:
    return month(o.start_on) if o.start_on else month(o.created_at)


def region(principal, data, start: str, end: str) -> dict:
    """{province: (customers at end, orders, sales)} with '未填写' for a missing province."""
    mine = visible(principal, data.customers)
    out: dict = defaultdict(lambda: [0, 0, Decimal(0)])
    for c in mine.values():
        if _present(c, end):
            out[c.province or "未填写"][0] += 1
    for o in data.orders:
        c = mine.get(o.customer_id)
        if c and o.status in SALES and start <= order_month(o) < end:
            v = out[c.province or "未填写"]
            v[1] += 1
            v[2] += Decimal(o.total_amount)
    return {k: tuple(v) for k, v in out.items() if v[0] or v[1]}


def complaints(principal, data, start: str, end: str, key: str) -> dict:
    """{group value: (complaints, closed, loss)} grouped by kind / handling / responsible_department_id."""
    mine = visible(principal, data.customers)
    out: dict = defaultdict(lambda: [0, 0, Decimal(0)])
    for x in data.complaints:
        if x.customer_id in mine and start <= month(x.received_on) < end:
            v = out[getattr(x, key)]
            v[0] += 1
            v[1] += x.status == "closed"
            v[2] += Decimal(x.loss_amount or 0)
    return {k: tuple(v) for k, v in out.items()}


def sales_by_owner(principal, data, start: str, end: str, as_of: date) -> dict:
    """{owner id or None: {sales, orders, planned, received, overdue, overdue_orders}}."""
    mine = visible(principal, data.customers)
    orders = {o.id: o for o in data.orders if o.customer_id in mine}
    out: dict = defaultdict(lambda: {"sales": Decimal(0), "orders": 0, "planned": Decimal(0), "received": Decimal(0),
                                     "overdue": Decimal(0), "overdue_orders": 0})

    def owner(order_id):
        return mine[orders[order_id].customer_id].owner_id

    for o in orders.values():
        if o.status in SALES and start <= order_month(o) < end:
            out[owner(o.id)]["sales"] += Decimal(o.total_amount)
            out[owner(o.id)]["orders"] += 1
    due: dict = defaultdict(Decimal)
    paid: dict = defaultdict(Decimal)
    for p in data.plans:
        if p.order_id in orders:
            if start <= month(p.due_on) < end:
                out[owner(p.order_id)]["planned"] += Decimal(p.amount)
            if p.due_on < as_of:
                due[p.order_id] += Decimal(p.amount)
    for p in data.payments:
        if p.order_id in orders:
            if start <= month(p.paid_on) < end:
                out[owner(p.order_id)]["received"] += Decimal(p.amount)
            if p.paid_on <= as_of:
                paid[p.order_id] += Decimal(p.amount)
    for oid, amount in due.items():
        late = amount - paid[oid]
        if late > 0 and orders[oid].status not in ("cancelled", "terminated"):
            out[owner(oid)]["overdue"] += late
            out[owner(oid)]["overdue_orders"] += 1
    return dict(out)
