"""Every query of the reports: sums over pre-aggregated cells, each scoped by `readable(principal, on=cell)`."""
from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from kehu.access.principal import Principal
from kehu.customers.repository import readable
from kehu.orders.models import Payment, PaymentPlan
from kehu.reports.models import (ComplaintCell, GrowthCell, OrderBalance, PaymentCell, PlanCell, RegionCell,
                                 SalesCell)


def _present(cell, month: str):
    """Customers created before `month` and not archived before it."""
    return and_(cell.created_month < month, or_(cell.removed_month == "", cell.removed_month >= month))


def _cents(amount):
    """Integer cents of a decimal column (as the cubes' triggers count them)."""
    return cast(func.round(amount * 100), BigInteger)


def growth(session: Session, principal: Principal, *, start: str, end: str) -> list:
    """(indirect, original, new, removed, current) customer counts per direct/indirect in scope."""
    c = GrowthCell
    n = c.customers
    stmt = (select(c.indirect,
                   func.coalesce(func.sum(case((_present(c, start), n), else_=0)), 0),
                   func.coalesce(func.sum(case((and_(c.created_month >= start, c.created_month < end), n),
                                               else_=0)), 0),
                   func.coalesce(func.sum(case((and_(c.removed_month != "", c.removed_month >= start,
                                                     c.removed_month < end), n), else_=0)), 0),
                   func.coalesce(func.sum(case((_present(c, end), n), else_=0)), 0))
            .where(readable(principal, on=c)).group_by(c.indirect))
    return list(session.execute(stmt))


def region_customers(session: Session, principal: Principal, *, end: str) -> list:
    """(province, city, customers) present at the end of the period, in scope."""
    c = RegionCell
    stmt = (select(c.province, c.city, func.sum(c.customers)).where(readable(principal, on=c), _present(c, end))
            .group_by(c.province, c.city))
    return [r for r in session.execute(stmt) if r[2]]


def region_sales(session: Session, principal: Principal, *, start: str, end: str) -> list:
    """(province, city, orders, amount cents) of signed orders in the period, in scope."""
    c = SalesCell
    stmt = (select(c.province, c.city, func.sum(c.orders), func.sum(c.amount_cents))
            .where(readable(principal, on=c), c.month >= start, c.month < end).group_by(c.province, c.city))
    return [r for r in session.execute(stmt) if r[2]]


def complaints(session: Session, principal: Principal, *, start: str, end: str) -> list:
    """(kind, handling, responsible department, complaints, closed, loss cents) received in the period."""
    c = ComplaintCell
    stmt = (select(c.kind, c.handling, c.responsible_department_id, func.sum(c.complaints), func.sum(c.closed),
                   func.sum(c.loss_cents))
            .where(readable(principal, on=c), c.month >= start, c.month < end)
            .group_by(c.kind, c.handling, c.responsible_department_id))
    return [r for r in session.execute(stmt) if r[3]]


def flows(session: Session, principal: Principal, cell, *, start: str, end: str) -> dict[tuple[str, str], tuple]:
    """{(department, owner): (count, amount cents)} of a sales / plan / payment cube in the period, in scope."""
    count = {SalesCell: SalesCell.orders, PlanCell: PlanCell.plans, PaymentCell: PaymentCell.payments}[cell]
    stmt = (select(cell.department_id, cell.owner_id, func.sum(count), func.sum(cell.amount_cents))
            .where(readable(principal, on=cell), cell.month >= start, cell.month < end)
            .group_by(cell.department_id, cell.owner_id))
    return {(r[0], r[1]): (int(r[2] or 0), int(r[3] or 0)) for r in session.execute(stmt) if r[2]}


def overdue(session: Session, principal: Principal, *, as_of: date) -> dict[tuple[str, str], tuple]:
    """{(department, owner): (orders, overdue cents)} as of a day: plans due before it minus payments up to it.

    Only orders whose first uncovered plan is due before the day (or paid after it) can be overdue. The
    usual one — every plan due before the day, no payment after it — owes planned − paid: summed from the
    covering index. The others (a plan still to come, a payment after the day) read their plans/payments.
    """
    b = OrderBalance
    scope = [readable(principal, on=b), b.status.notin_(("cancelled", "terminated"))]
    settled = or_(b.last_paid_on.is_(None), b.last_paid_on <= as_of)
    usual = (select(b.department_id, b.owner_id, func.count(), func.sum(b.planned_cents - b.paid_cents))
             .where(b.first_unpaid_due_on < as_of, b.last_due_on < as_of, settled, *scope)
             .group_by(b.department_id, b.owner_id))
    out = {(r[0], r[1]): (int(r[2]), int(r[3] or 0)) for r in session.execute(usual)}
    due = (select(func.coalesce(func.sum(_cents(PaymentPlan.amount)), 0))
           .where(PaymentPlan.order_id == b.order_id, PaymentPlan.due_on < as_of).scalar_subquery())
    paid_then = (select(func.coalesce(func.sum(_cents(Payment.amount)), 0))
                 .where(Payment.order_id == b.order_id, Payment.paid_on <= as_of).scalar_subquery())
    paid = case((b.last_paid_on > as_of, paid_then), else_=b.paid_cents)
    other = or_(and_(b.first_unpaid_due_on < as_of, b.last_due_on >= as_of), b.last_paid_on > as_of)
    rest = select(b.department_id, b.owner_id, (due - paid).label("late")).where(other, *scope)
    for dept, owner, late in session.execute(rest):
        if late > 0:
            n, cents = out.get((dept, owner), (0, 0))
            out[(dept, owner)] = (n + 1, cents + int(late))
    return out
