"""Every query of survey templates and surveys; surveys are scoped through their customer (`readable`)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.access.principal import Principal
from kehu.customers.models import Customer
from kehu.customers.repository import readable
from kehu.surveys.models import Survey, SurveyTemplate


def template(session: Session, code: str) -> SurveyTemplate | None:
    """A questionnaire by code (or id)."""
    return session.execute(select(SurveyTemplate).where((SurveyTemplate.code == code) | (SurveyTemplate.id == code))) \
        .scalars().first()


def templates(session: Session) -> list[SurveyTemplate]:
    """All questionnaires, by code."""
    return list(session.execute(select(SurveyTemplate).order_by(SurveyTemplate.code)).scalars())


def templates_by_ids(session: Session, ids: set[str]) -> dict[str, SurveyTemplate]:
    """Questionnaires by id."""
    if not ids:
        return {}
    return {t.id: t for t in session.execute(select(SurveyTemplate).where(SurveyTemplate.id.in_(ids))).scalars()}


def get(session: Session, principal: Principal, survey_id: str, *,
        for_update: bool = False) -> tuple[Survey, Customer] | None:
    """A survey and its customer, only if the customer is in the principal's scope."""
    stmt = select(Survey, Customer).join(Customer, Customer.id == Survey.customer_id) \
        .where(Survey.id == survey_id, readable(principal))
    if for_update:
        stmt = stmt.with_for_update(of=Survey)
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def of_customer(session: Session, customer_id: str) -> list[Survey]:
    """Surveys of one customer, newest first."""
    return list(session.execute(select(Survey).where(Survey.customer_id == customer_id)
                                .order_by(Survey.id.desc()).limit(200)).scalars())


def by_complaint(session: Session, complaint_id: str) -> Survey | None:
    """The survey evaluating a complaint, if sent."""
    return session.execute(select(Survey).where(Survey.complaint_id == complaint_id)).scalar_one_or_none()


def due_customers(session: Session, principal: Principal, *, importance: str, since: date) -> list[Customer]:
    """Active customers of an importance class in scope with no survey sent after `since`."""
    last = (select(Survey.customer_id, func.max(Survey.sent_on).label("last")).group_by(Survey.customer_id)
            .subquery())
    stmt = (select(Customer).outerjoin(last, last.c.customer_id == Customer.id)
            .where(readable(principal), Customer.importance == importance, Customer.status == "active",
                   (last.c.last.is_(None)) | (last.c.last <= since))
            .order_by(Customer.id))
    return list(session.execute(stmt).scalars())
