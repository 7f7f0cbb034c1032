"""The search box: one entry understood as archive no., exact identifier, pinyin or name."""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, bindparam, false, or_, select
from sqlalchemy.orm import Session

from kehu.customers.models import Contact, Customer
from kehu.errors import FieldError, ValidationFailed
from kehu.kit import validate as v
from kehu.runtime import Ctx

_ARCHIVE_NO = re.compile(r"^KH\d{11,}$", re.I)  # 7+ digit sequence after the year
_LATIN = re.compile(r"^[a-z ]+$", re.I)


def _blind(session: Session, ctx: Ctx, domain: str, value: str, customer_col,
           contact_col=None) -> list[ColumnElement[bool]]:
    """Exact match through the blind index, resolved to customer ids first.

    Looking the digest up on its own index and only then applying the caller's scope keeps the
    plan independent of table statistics (otherwise a scoped search may scan the owner's rows).
    """
    digests = ctx.kehu.crypto.blind_indexes(domain, value)  # one, or two during a blind-index key rotation
    conn = session.connection()
    ids = {r[0] for r in conn.execute(_by_digest(Customer.id, customer_col), {"d": digests})}
    if contact_col is not None:
        ids |= {r[0] for r in conn.execute(_by_digest(Contact.customer_id, contact_col), {"d": digests})}
    return [Customer.id.in_(sorted(ids))] if ids else [false()]


@lru_cache
def _by_digest(wanted, column):
    return select(wanted).where(column.in_(bindparam("d", expanding=True))).limit(50)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(session: Session, ctx: Ctx, q: str | None) -> list[ColumnElement[bool]]:
    """Conditions for a search entry. Exact identifiers go through the blind index (no plaintext search)."""
    text = v.normalize_text(q or "")
    if not text:
        return []
    if len(text) > 100:
        raise ValidationFailed([FieldError("q", "too_long", "搜索内容过长")])
    if _ARCHIVE_NO.match(text):
        return [Customer.archive_no == text.upper()]
    if "@" in text:
        try:
            return _blind(session, ctx, "email", v.email(text), Customer.email_bi, Contact.email_bi)
        except v.Invalid:
            return [false()]
    compact = re.sub(r"[\s-]", "", text)
    if re.fullmatch(r"\+?[\d]{7,20}[xX]?", compact):
        # 15–18 characters ending in a digit or X: a 身份证号; anything else numeric: a mobile
        is_id = len(compact) in (15, 18) and not compact.startswith("+")
        check, domain, ccol, kcol = ((v.id_number, "id_number", Customer.id_number_bi, None) if is_id else
                                     (v.mobile, "mobile", Customer.mobile_bi, Contact.mobile_bi))
        try:
            return _blind(session, ctx, domain, check(compact), ccol, kcol)
        except v.Invalid:
            return [false()]
    if len(compact) == 18 and compact.isalnum():
        try:
            return [Customer.uscc == v.credit_code(compact)]
        except v.Invalid:
            pass
    if _LATIN.match(text):
        key = _escape(text.replace(" ", "").lower())
        return [or_(Customer.name_initials.startswith(key, autoescape=False, escape="\\"),
                    Customer.name_pinyin.startswith(key, autoescape=False, escape="\\"))]
    return [Customer.name.startswith(_escape(text), escape="\\")]


FILTERS = ("owner_id", "department_id", "status", "kind", "region", "province", "importance")
#: Filters other packages add to the list — and so to everything built on it (API, web, exports):
#: name → (label, (session, ctx, value) → condition). Tags register "tag", "grade" and "segment".
EXTRA_FILTERS: dict[str, tuple[str, Callable[[Session, Ctx, str], ColumnElement[bool]]]] = {}


def filter_names() -> tuple[str, ...]:
    """Every filter name the customer list accepts."""
    return FILTERS + tuple(EXTRA_FILTERS)


#: how a filter's value reads on screen and in approval summaries, where it is a reference (name → (session,
#: ctx, value) → text); a filter not named here shows its value as given. Segments register "segment".
FILTER_VALUES: dict[str, Callable[[Session, Ctx, str], str]] = {}


def filter_value(session: Session, ctx: Ctx, name: str, value: str) -> str:
    """A filter's value as people read it (a segment by its name and rule, not its id)."""
    describe = FILTER_VALUES.get(name)
    return describe(session, ctx, value) if describe else value


def filter_label(catalog, name: str) -> str:
    """What a filter is called on screen and in approval summaries."""
    return EXTRA_FILTERS[name][0] if name in EXTRA_FILTERS else catalog.get("customer", name).label


def filter_conditions(session: Session, ctx: Ctx, filters: dict[str, Any]) -> list[ColumnElement[bool]]:
    """Equality filters on list columns; archived customers are excluded unless asked for."""
    conds = []
    for name in FILTERS:
        value = filters.get(name)
        if value not in (None, ""):
            conds.append(getattr(Customer, name) == str(value))
    for name, (_label, build) in EXTRA_FILTERS.items():
        value = filters.get(name)
        if value not in (None, ""):
            conds.append(build(session, ctx, str(value)))
    if filters.get("status") in (None, ""):
        conds.append(Customer.status != "archived")
    return conds
