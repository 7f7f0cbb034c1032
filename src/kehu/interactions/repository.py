"""Every query of follow-ups and communications; the customer itself is found through customers.repository."""
from __future__ import annotations

import base64
import json
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from kehu.customers.models import Contact
from kehu.errors import FieldError, ValidationFailed
from kehu.interactions.models import Communication, FollowUp


def encode_cursor(key: str, row_id: str) -> str:
    """Opaque keyset cursor for (sort key, id)."""
    return base64.urlsafe_b64encode(json.dumps([key, row_id]).encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """(sort key, id) of a cursor, or 422 when it was not made by encode_cursor."""
    if not cursor:
        return None
    try:
        key, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(key, str) and isinstance(row_id, str) and 10 <= len(key) <= 16 and len(row_id) <= 32):
            raise ValueError
        date.fromisoformat(key[:10])
        return key, row_id
    except (ValueError, TypeError):
        raise ValidationFailed([FieldError("cursor", "invalid_cursor", "分页参数无效")]) from None


def sort_key(record) -> str:
    """Timeline position of a record: 'YYYY-MM-DD HH:MM' of a follow-up, 'YYYY-MM-DD' of a communication."""
    return record.followed_at if isinstance(record, FollowUp) else record.communicated_on.isoformat()


def followups(session: Session, customer_id: str, *, after: tuple[str, str] | None, limit: int) -> list[FollowUp]:
    """Follow-ups of one customer, newest first, strictly after a cursor."""
    stmt = select(FollowUp).where(FollowUp.customer_id == customer_id)
    if after:
        key, rid = after
        stmt = stmt.where(or_(FollowUp.followed_at < key, and_(FollowUp.followed_at == key, FollowUp.id < rid)))
    return list(session.execute(stmt.order_by(FollowUp.followed_at.desc(), FollowUp.id.desc()).limit(limit))
                .scalars())


def communications(session: Session, customer_id: str, *, after: tuple[str, str] | None,
                   limit: int) -> list[Communication]:
    """Communications of one customer, newest first, strictly after a cursor (a date, or a follow-up time)."""
    stmt = select(Communication).where(Communication.customer_id == customer_id)
    if after:
        key, rid = after
        day = date.fromisoformat(key[:10])
        if len(key) > 10:  # cursor on a follow-up of that day: a day's minutes sort after its timed follow-ups
            stmt = stmt.where(Communication.communicated_on <= day)
        else:
            stmt = stmt.where(or_(Communication.communicated_on < day,
                                  and_(Communication.communicated_on == day, Communication.id < rid)))
    return list(session.execute(stmt.order_by(Communication.communicated_on.desc(), Communication.id.desc())
                                .limit(limit)).scalars())


def contact(session: Session, customer_id: str, contact_id: str) -> Contact | None:
    """A contact of this customer (None when it belongs to another customer or does not exist)."""
    return session.execute(select(Contact).where(Contact.id == contact_id, Contact.customer_id == customer_id)) \
        .scalar_one_or_none()
