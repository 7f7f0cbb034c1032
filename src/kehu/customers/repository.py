"""Every query of the archive. `readable(principal)` scopes each select to the caller's data scope."""
from __future__ import annotations

import base64
import json
from typing import Any
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, bindparam, exists, false, or_, select, true
from sqlalchemy.orm import Session

from kehu.db import allocate, prepared
from kehu.access.principal import Principal
from kehu.customers.models import Address, Anniversary, ArchiveSequence, Contact, Customer, History, Relation


ALL_CLASSES = frozenset({"normal", "core", "key"})


def readable(principal: Principal, on: Any = Customer) -> ColumnElement[bool]:
    """WHERE clause limiting customers to the principal's data scope (default deny).

    `on`: anything with the customer's `department_id`, `owner_id` and `importance` columns (the
    customers table by default; a report's pre-aggregated cells carry the same three columns).
    """
    if not principal.sees_customers:
        return false()
    if principal.scope == "all":
        rows = true()
    elif principal.scope == "department" and principal.department_ids:
        rows = or_(on.department_id.in_(sorted(principal.department_ids)), on.owner_id == principal.user_id)
    else:
        rows = on.owner_id == principal.user_id
    if principal.importance != ALL_CLASSES:
        rows = and_(rows, on.importance.in_(sorted(principal.importance)))
    if on is Customer:  # an erased customer (kehu.privacy.erasure) is a tombstone kept only for its storage-only records
        rows = and_(rows, Customer.status != "erased")
    return rows


def get_by_no(session: Session, principal: Principal, archive_no: str, *, for_update: bool = False) -> Customer | None:
    """A customer by archive number, only if inside the principal's scope."""
    stmt = select(Customer).where(Customer.archive_no == archive_no, readable(principal))
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


#: child tables of an archive: `row_by_no` says which of them hold rows for the customer (`has_<table>`)
CHILD_TABLES = (Contact.__table__, Address.__table__, Anniversary.__table__, Relation.__table__)


def row_by_no(session: Session, principal: Principal, archive_no: str):
    """A customer as a plain row (the read path's hot spot), only if in scope; compiled once per principal.

    The row also carries `has_<child table>` flags, so a read queries only the child tables that hold rows.
    """
    stmt = prepared(session, ("customer_by_no", principal), lambda: select(
        Customer.__table__,
        *[exists().where(t.c.customer_id == Customer.id).label(f"has_{t.name}") for t in CHILD_TABLES],
    ).where(Customer.archive_no == bindparam("no"), readable(principal)))
    return stmt.first(session, no=archive_no)


def child_rows(session: Session, model: type, customer_id: str) -> list:
    """Child records of one customer as plain rows, in creation order (statement compiled once)."""
    table = model.__table__
    stmt = prepared(session, ("children", table.name), lambda: select(table).where(
        table.c.customer_id == bindparam("cid")).order_by(table.c.id))
    return stmt.all(session, cid=customer_id)


def ids_by_blind(session: Session, column: str, digests: list[bytes]) -> list[tuple]:
    """(id, archive_no, owner_id, department_id) of customers whose own field or a contact's matches a blind index."""
    cust_col = getattr(Customer, column, None)
    conds = [cust_col.in_(digests)] if cust_col is not None else []
    contact_col = getattr(Contact, column, None)
    if contact_col is not None:
        conds.append(Customer.id.in_(select(Contact.customer_id).where(contact_col.in_(digests))))
    if not conds:
        return []
    rows = session.execute(select(Customer.id, Customer.archive_no, Customer.owner_id, Customer.department_id,
                                  Customer.importance).where(or_(*conds)).limit(20))
    return [tuple(r) for r in rows]


def ids_by_uscc(session: Session, uscc: str) -> list[tuple]:
    """Customers with this unified social credit code."""
    rows = session.execute(select(Customer.id, Customer.archive_no, Customer.owner_id, Customer.department_id,
                                  Customer.importance).where(Customer.uscc == uscc).limit(20))
    return [tuple(r) for r in rows]


def next_archive_no(session: Session, year: int) -> str:
    """Issue the next archive number of a year, KH+year+7 digits (never reused)."""
    return f"KH{year}{allocate(session, ArchiveSequence, year):07d}"


SORTS = {
    "new": (Customer.id, True),
    "old": (Customer.id, False),
    "name": (Customer.name_pinyin, False),
    "archive_no": (Customer.archive_no, False),
    "updated": (Customer.updated_at, True),
}


@dataclass
class Page:
    """One page of a keyset-paginated list: rows and the cursor of the next page (no total count)."""

    rows: list  # plain result rows of the customers table
    next_cursor: str | None


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def _decode(cursor: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        return values
    except (ValueError, TypeError):
        from kehu.errors import FieldError, ValidationFailed

        raise ValidationFailed([FieldError("cursor", "invalid_cursor", "分页参数无效")]) from None


def _streams(principal: Principal) -> list[ColumnElement[bool]]:
    """The caller's scope as separate index-friendly conditions whose union is `readable(principal)`.

    A department head's scope is "department in (…subtree…) or owner is me". As one condition the
    planner reads every matching row and sorts them (seconds on a big department); as one query per
    department (index (department_id, id)) plus one for the owner, each stops after a page.
    """
    if principal.scope != "department" or not principal.department_ids:
        return [readable(principal)]
    classes = [] if principal.importance == ALL_CLASSES else [Customer.importance.in_(sorted(principal.importance))]
    streams = [and_(Customer.department_id == d, *classes) for d in sorted(principal.department_ids)]
    return streams + [and_(Customer.owner_id == principal.user_id, *classes)]


def page(session: Session, principal: Principal, *, where: list[ColumnElement[bool]], sort: str = "new",
         cursor: str | None = None, limit: int = 20) -> Page:
    """Keyset page of customers in scope matching `where`, ordered by `sort` (no total count)."""
    col, desc = SORTS.get(sort, SORTS["new"])
    after: list[ColumnElement[bool]] = []
    if cursor:
        last_value, last_id = _decode(cursor)
        if col is Customer.id:
            after.append(Customer.id < last_id if desc else Customer.id > last_id)
        else:
            if col is Customer.updated_at:
                from datetime import datetime

                last_value = datetime.fromisoformat(last_value)
            cmp = (col < last_value) if desc else (col > last_value)
            tie = and_(col == last_value, (Customer.id < last_id) if desc else (Customer.id > last_id))
            after.append(or_(cmp, tie))
    order = [col.desc() if desc else col.asc()]
    if col is not Customer.id:
        order.append(Customer.id.desc() if desc else Customer.id.asc())
    conn = session.connection()
    found: dict[str, Any] = {}
    for scope in _streams(principal):
        stmt = select(Customer.__table__).where(scope, *where, *after).order_by(*order).limit(limit + 1)
        for row in conn.execute(stmt):
            found[row.id] = row
    rows = sorted(found.values(), key=lambda r: (_sortable(getattr(r, col.key)), r.id), reverse=desc)[:limit + 1]
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        nxt = _encode([getattr(last, col.key), last.id])
    return Page(rows, nxt)


def _sortable(value: Any) -> Any:
    # None sorts first ascending on both engines' side of the merge; keep it comparable with strings
    return ("", "") if value is None else ("1", value)


def history(session: Session, customer_id: str, *, before_seq: int | None, limit: int) -> list[History]:
    """Change history of one customer, newest first."""
    stmt = select(History).where(History.customer_id == customer_id)
    if before_seq:
        stmt = stmt.where(History.seq < before_seq)
    return list(session.execute(stmt.order_by(History.seq.desc()).limit(limit)).scalars())

