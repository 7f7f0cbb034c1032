"""Every query of complaints; complaints are scoped through their customer (`readable`)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from kehu.db import allocate
from kehu.access.models import Department
from kehu.access.principal import Principal
from kehu.complaints.models import Complaint, ComplaintSequence
from kehu.customers.models import Customer
from kehu.customers.repository import readable


def next_complaint_no(session: Session, year: int) -> str:
    """Issue the next complaint number (受理编号) of a year, TS+year+6 digits (never reused)."""
    return f"TS{year}{allocate(session, ComplaintSequence, year):06d}"


def get(session: Session, principal: Principal, *, complaint_no: str | None = None, complaint_id: str | None = None,
        for_update: bool = False) -> tuple[Complaint, Customer] | None:
    """A complaint and its customer, only if the customer is inside the principal's scope."""
    stmt = select(Complaint, Customer).join(Customer, Customer.id == Complaint.customer_id).where(readable(principal))
    stmt = stmt.where(Complaint.complaint_no == complaint_no) if complaint_no else \
        stmt.where(Complaint.id == complaint_id)
    if for_update:
        stmt = stmt.with_for_update(of=Complaint)
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def open_past_deadline(today: date) -> ColumnElement[bool]:
    """Open (not closed) complaints whose promised date lies before `today`."""
    return (Complaint.status != "closed") & (Complaint.promised_on < today)


def page(session: Session, principal: Principal, *, where: list[ColumnElement[bool]], before: str | None,
         limit: int) -> list[tuple[Complaint, Customer]]:
    """Complaints of customers in scope, newest first, strictly before a complaint id."""
    stmt = select(Complaint, Customer).join(Customer, Customer.id == Complaint.customer_id) \
        .where(readable(principal), *where)
    if before:
        stmt = stmt.where(Complaint.id < before)
    return [(c, cu) for c, cu in session.execute(stmt.order_by(Complaint.id.desc()).limit(limit))]


def department_exists(session: Session, department_id: str) -> bool:
    """Whether a department id is known."""
    return session.get(Department, department_id) is not None
