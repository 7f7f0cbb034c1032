"""Pre-aggregated report cells, kept current by database triggers (see `kehu.reports.cubes`).

Not customer data tables: they hold counts and sums per (department, owner, importance, month, …),
never a customer's values. Every cell carries the three columns of the data scope, so a report
filters cells with the same `customers.repository.readable(principal, on=cell)` as the archive.
Empty keys are stored as '' (not NULL) so that each cell has exactly one row.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base
from kehu.orders.models import Payment, PaymentPlan

__all__ = ["GrowthCell", "RegionCell", "SalesCell", "PlanCell", "PaymentCell", "ComplaintCell", "OrderBalance"]


def _key(length: int) -> Mapped[str]:
    return mapped_column(String(length), primary_key=True)


def _count() -> Mapped[int]:
    return mapped_column(BigInteger, nullable=False, default=0)


class _Scoped:
    """The data-scope columns of every cell (the customer's department, owner and importance)."""

    department_id: Mapped[str] = _key(32)
    owner_id: Mapped[str] = _key(32)
    importance: Mapped[str] = _key(10)


class GrowthCell(_Scoped, Base):
    """Customers by direct/indirect, month created and month archived (客户增减)."""

    __tablename__ = "report_growth_cells"

    indirect: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_month: Mapped[str] = _key(7)
    removed_month: Mapped[str] = _key(7)
    customers: Mapped[int] = _count()


class RegionCell(_Scoped, Base):
    """Customers by province/city, month created and month archived (客户区域)."""

    __tablename__ = "report_region_cells"

    province: Mapped[str] = _key(20)
    city: Mapped[str] = _key(30)
    created_month: Mapped[str] = _key(7)
    removed_month: Mapped[str] = _key(7)
    customers: Mapped[int] = _count()


class SalesCell(_Scoped, Base):
    """Signed orders (签订/执行中/已完成) by the customer's province/city and the order's month."""

    __tablename__ = "report_sales_cells"
    __table_args__ = (Index("ix_report_sales_cells_month", "month"),)

    province: Mapped[str] = _key(20)
    city: Mapped[str] = _key(30)
    month: Mapped[str] = _key(7)
    orders: Mapped[int] = _count()
    amount_cents: Mapped[int] = _count()


class PlanCell(_Scoped, Base):
    """Planned payments (回款计划) by month due."""

    __tablename__ = "report_plan_cells"

    month: Mapped[str] = _key(7)
    plans: Mapped[int] = _count()
    amount_cents: Mapped[int] = _count()


class PaymentCell(_Scoped, Base):
    """Actual payments (实际回款) by month paid."""

    __tablename__ = "report_payment_cells"

    month: Mapped[str] = _key(7)
    payments: Mapped[int] = _count()
    amount_cents: Mapped[int] = _count()


class ComplaintCell(_Scoped, Base):
    """Complaints by month received, type, handling method and responsible department (投诉统计)."""

    __tablename__ = "report_complaint_cells"

    month: Mapped[str] = _key(7)
    kind: Mapped[str] = _key(10)
    handling: Mapped[str] = _key(10)
    responsible_department_id: Mapped[str] = _key(32)
    complaints: Mapped[int] = _count()
    closed: Mapped[int] = _count()
    loss_cents: Mapped[int] = _count()


class OrderBalance(Base):
    """Per order: planned and paid totals, last payment and plan days, the first plan not covered (FIFO).

    Overdue receivables as of a day D only involve orders whose first uncovered plan is due before D
    (or that were paid after D), so the report reads those instead of every plan and payment.
    """

    __tablename__ = "report_order_balances"
    # covering: the usual overdue order (all plans due, paid up to the day) is summed from the index alone
    __table_args__ = (Index("ix_report_order_balances_overdue", "first_unpaid_due_on", "last_due_on", "last_paid_on",
                            "status", "department_id", "owner_id", "importance", "planned_cents", "paid_cents"),
                      Index("ix_report_order_balances_last_paid", "last_paid_on"),
                      Index("ix_report_order_balances_customer", "customer_id"))

    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), nullable=False)
    department_id: Mapped[str] = mapped_column(String(32), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(32), nullable=False)
    importance: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    planned_cents: Mapped[int] = _count()
    paid_cents: Mapped[int] = _count()
    last_paid_on: Mapped[date | None] = mapped_column(Date)
    last_due_on: Mapped[date | None] = mapped_column(Date)
    first_unpaid_due_on: Mapped[date | None] = mapped_column(Date)


#: Overdue receivables sum one order's plans due before a day and its payments up to it: these covering
#: indexes answer both from the index alone (the planner would otherwise range-scan `ix_payment_plans_due`).
PLAN_BY_ORDER = Index("ix_report_plans_order_due", PaymentPlan.order_id, PaymentPlan.due_on, PaymentPlan.amount)
PAYMENT_BY_ORDER = Index("ix_report_payments_order_paid", Payment.order_id, Payment.paid_on, Payment.amount)
