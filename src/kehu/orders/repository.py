"""Every query of products, orders and payments; orders are scoped through their customer (`readable`)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, selectinload

from kehu.db import allocate
from kehu.access.principal import Principal
from kehu.customers.models import Customer
from kehu.customers.repository import readable
from kehu.orders.models import Order, OrderSequence, Payment, PaymentPlan, Product, ProductLine

ZERO = Decimal("0.00")


def next_order_no(session: Session, year: int) -> str:
    """Issue the next order number of a year, HT+year+7 digits (never reused)."""
    return f"HT{year}{allocate(session, OrderSequence, year):07d}"


def get_order(session: Session, principal: Principal, order_no: str, *,
              for_update: bool = False) -> tuple[Order, Customer] | None:
    """An order and its customer, only if the customer is inside the principal's scope."""
    stmt = (select(Order, Customer).join(Customer, Customer.id == Order.customer_id)
            .where(Order.order_no == order_no, readable(principal)).options(selectinload(Order.items)))
    if for_update:
        stmt = stmt.with_for_update(of=Order)
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def orders_page(session: Session, principal: Principal, *, where: list[ColumnElement[bool]], before: str | None,
                limit: int) -> list[tuple[Order, Customer]]:
    """Orders of customers in scope, newest first, strictly before an order id."""
    stmt = select(Order, Customer).join(Customer, Customer.id == Order.customer_id).where(readable(principal), *where)
    if before:
        stmt = stmt.where(Order.id < before)
    return [(o, c) for o, c in session.execute(stmt.order_by(Order.id.desc()).limit(limit))]


def plans(session: Session, order_id: str) -> list[PaymentPlan]:
    """Payment plans of an order, by due date."""
    return list(session.execute(select(PaymentPlan).where(PaymentPlan.order_id == order_id)
                                .order_by(PaymentPlan.due_on, PaymentPlan.id)).scalars())


def payments(session: Session, order_id: str) -> list[Payment]:
    """Actual payments of an order, by date."""
    return list(session.execute(select(Payment).where(Payment.order_id == order_id)
                                .order_by(Payment.paid_on, Payment.id)).scalars())


def payment(session: Session, order_id: str, payment_id: str) -> Payment | None:
    """One actual payment of an order."""
    return session.execute(select(Payment).where(Payment.id == payment_id, Payment.order_id == order_id)) \
        .scalar_one_or_none()


def _totals(today: date):
    due = (select(PaymentPlan.order_id.label("order_id"), func.sum(PaymentPlan.amount).label("due"))
           .where(PaymentPlan.due_on < today).group_by(PaymentPlan.order_id).subquery())
    paid = (select(Payment.order_id.label("order_id"), func.sum(Payment.amount).label("paid"))
            .where(Payment.paid_on <= today).group_by(Payment.order_id).subquery())
    return due, paid


def overdue_orders(session: Session, principal: Principal, *, today: date, customer_no: str | None,
                   before: str | None, limit: int) -> list[tuple[Order, Customer, Decimal, Decimal]]:
    """(order, customer, planned amount due before `today`, paid up to `today`) where due exceeds paid."""
    due, paid = _totals(today)
    paid_amount = func.coalesce(paid.c.paid, 0)
    stmt = (select(Order, Customer, due.c.due, paid_amount)
            .join(Customer, Customer.id == Order.customer_id).join(due, due.c.order_id == Order.id)
            .outerjoin(paid, paid.c.order_id == Order.id)
            .where(readable(principal), due.c.due > paid_amount,
                   Order.status.notin_(("cancelled", "terminated"))))
    if customer_no:
        stmt = stmt.where(Customer.archive_no == customer_no)
    if before:
        stmt = stmt.where(Order.id < before)
    rows = session.execute(stmt.order_by(Order.id.desc()).limit(limit))
    return [(o, c, Decimal(d or 0), Decimal(p or 0)) for o, c, d, p in rows]


def plans_of(session: Session, order_ids: list[str]) -> dict[str, list[PaymentPlan]]:
    """Payment plans of several orders, by due date."""
    out: dict[str, list[PaymentPlan]] = {i: [] for i in order_ids}
    if order_ids:
        for p in session.execute(select(PaymentPlan).where(PaymentPlan.order_id.in_(order_ids))
                                 .order_by(PaymentPlan.due_on, PaymentPlan.id)).scalars():
            out[p.order_id].append(p)
    return out


# products (company catalogue, not customer data) ---------------------------------------

def product_by_ref(session: Session, ref: str) -> Product | None:
    """A product by id or by code."""
    return session.execute(select(Product).where(or_(Product.id == ref, Product.code == ref))).scalars().first()


def products_by_ids(session: Session, ids: set[str]) -> dict[str, Product]:
    """Products by id."""
    if not ids:
        return {}
    return {p.id: p for p in session.execute(select(Product).where(Product.id.in_(ids))).scalars()}


def line_by_ref(session: Session, ref: str) -> ProductLine | None:
    """A product line by id or code."""
    return session.execute(select(ProductLine).where(or_(ProductLine.id == ref, ProductLine.code == ref))) \
        .scalars().first()


def list_products(session: Session, *, line: str | None, active_only: bool, q: str | None) -> list[Product]:
    """Products, by code, optionally of one line, active only, or matching a code/name prefix."""
    stmt = select(Product).join(ProductLine, ProductLine.id == Product.line_id)
    if line:
        stmt = stmt.where(or_(ProductLine.id == line, ProductLine.code == line))
    if active_only:
        stmt = stmt.where(Product.active.is_(True))
    if q:
        stmt = stmt.where(or_(Product.code.startswith(q, autoescape=True), Product.name.startswith(q, autoescape=True)))
    return list(session.execute(stmt.order_by(Product.code).limit(500)).scalars())


def list_lines(session: Session) -> list[ProductLine]:
    """All product lines, by code."""
    return list(session.execute(select(ProductLine).order_by(ProductLine.code)).scalars())


