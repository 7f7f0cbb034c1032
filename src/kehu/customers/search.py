"""The search box: one entry understood as archive no., exact identifier, pinyin or name."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select

from kehu.customers.models import Contact, Customer
from kehu.errors import FieldError, ValidationFailed
from kehu.kit import validate as v
from kehu.runtime import Ctx

_ARCHIVE_NO = re.compile(r"^KH\d{11}$", re.I)
_LATIN = re.compile(r"^[a-z ]+$", re.I)


def _blind(ctx: Ctx, domain: str, value: str, customer_col, contact_col=None) -> ColumnElement[bool]:
    digest = ctx.kehu.crypto.blind_index(domain, value)
    conds = [customer_col == digest]
    if contact_col is not None:
        conds.append(Customer.id.in_(select(Contact.customer_id).where(contact_col == digest)))
    return or_(*conds)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(ctx: Ctx, q: str | None) -> list[ColumnElement[bool]]:
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
            return [_blind(ctx, "email", v.email(text), Customer.email_bi, Contact.email_bi)]
        except v.Invalid:
            return [false()]
    compact = re.sub(r"[\s-]", "", text)
    if re.fullmatch(r"\+?[\d]{7,20}[xX]?", compact):
        conds = []
        for check, domain, ccol, kcol in ((v.mobile, "mobile", Customer.mobile_bi, Contact.mobile_bi),
                                          (v.id_number, "id_number", Customer.id_number_bi, None)):
            try:
                conds.append(_blind(ctx, domain, check(compact), ccol, kcol))
            except v.Invalid:
                pass
        return [or_(*conds)] if conds else [false()]
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


def filter_conditions(ctx: Ctx, filters: dict[str, Any]) -> list[ColumnElement[bool]]:
    """Equality filters on list columns; archived customers are excluded unless asked for."""
    conds = []
    for name in FILTERS:
        value = filters.get(name)
        if value not in (None, ""):
            conds.append(getattr(Customer, name) == str(value))
    if filters.get("status") in (None, ""):
        conds.append(Customer.status != "archived")
    return conds
