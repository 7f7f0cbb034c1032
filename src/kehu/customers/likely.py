"""Likely duplicates (疑似重复): archives in the viewer's scope that may be the same customer.

Exact duplicates (mobile, ID number, e-mail, USCC) are refused by the archive service; this finds the
near ones a person entering a record should look at: the same name pinyin (同音) plus the same
city and district, a mobile differing in at most one digit, or a similar street address. Candidates
come from the name-pinyin index inside `readable(principal)` only, so nothing outside the viewer's
scope is ever suggested; they are shown through the presenter (masked per the viewer's rights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.catalog.presenter import present
from kehu.catalog.validation import check_all
from kehu.catalog.vault import Vault
from kehu.customers.models import Customer
from kehu.customers.repository import readable
from kehu.kit.pinyin import pinyin_keys
from kehu.runtime import Ctx

#: Candidates read per name pinyin (a very common name is not a signal on its own).
PER_NAME = 50
#: Street-address similarity (rapidfuzz ratio, 0–100) counted as "similar".
ADDRESS_SIMILARITY = 85
REASONS = {"place": "姓名同音且同城同区", "mobile": "姓名同音且手机号仅一位不同", "mobile_same": "姓名同音且手机号相同",
           "street": "姓名同音且地址相似"}


@dataclass
class Probe:
    """What is known of the record being entered (normalised values; None when not given)."""

    name: str
    mobile: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None


def probe_of(ctx: Ctx, data: dict[str, Any]) -> Probe | None:
    """A probe from raw input (form fields or a file row); None without a usable name."""
    wanted = {k: data.get(k) for k in ("name", "mobile", "city", "district", "street") if data.get(k)}
    values, _errors = check_all(ctx.catalog, "customer", wanted)  # malformed parts are simply not compared
    if not values.get("name"):
        return None
    return Probe(values["name"], values.get("mobile"), values.get("city"), values.get("district"), values.get("street"))


def _one_digit_apart(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) <= 1


def _reasons(ctx: Ctx, probe: Probe, row: Any) -> list[str]:
    out = []
    if probe.city and probe.district and row.city == probe.city and row.district == probe.district:
        out.append("place")
    if probe.mobile and row.mobile is not None or probe.street and row.street is not None:
        vault = Vault(ctx.kehu.crypto, customer_id=row.id, wrapped_dek=row.dek)
        if probe.mobile and row.mobile is not None:
            mobile = vault.read(row, ctx.catalog.get("customer", "mobile"))
            if mobile == probe.mobile:
                out.append("mobile_same")
            elif _one_digit_apart(mobile, probe.mobile):
                out.append("mobile")
        if probe.street and row.street is not None and not out:
            street = vault.read(row, ctx.catalog.get("customer", "street"))
            if fuzz.ratio(street, probe.street) >= ADDRESS_SIMILARITY:
                out.append("street")
    return out


def _rows(session: Session, ctx: Ctx, pinyins: list[str]):
    c = Customer
    stmt = (select(c.id, c.archive_no, c.kind, c.name, c.name_pinyin, c.city, c.district, c.mobile, c.street, c.dek,
                   c.birth_date, c.owner_id, c.department_id, c.importance)
            .where(c.name_pinyin.in_(pinyins), readable(ctx.principal), c.status != "archived")
            .order_by(c.name_pinyin, c.id.desc()))
    per: dict[str, int] = {}
    for row in session.execute(stmt):
        per[row.name_pinyin] = per.get(row.name_pinyin, 0) + 1
        if per[row.name_pinyin] <= PER_NAME:
            yield row


def _shown(ctx: Ctx, row: Any, reasons: list[str]) -> dict[str, Any]:
    from kehu.access import policy

    vault = Vault(ctx.kehu.crypto, customer_id=row.id, wrapped_dek=row.dek)
    minor = policy.is_minor(row.kind, row.birth_date)
    shown = present(ctx.principal, ctx.catalog, "customer", row, vault, minor=minor,
                    only=["archive_no", "name", "city", "district"])
    return {**shown.values, "reasons": [REASONS[r] for r in reasons], "codes": reasons}


def find_many(session: Session, ctx: Ctx, probes: dict[Any, Probe], *, exclude: set[str] = frozenset()
              ) -> dict[Any, list[dict[str, Any]]]:
    """Likely duplicates for many probes at once (one query per 500 distinct name pinyins); not audited."""
    by_pinyin: dict[str, list[Any]] = {}
    for key, probe in probes.items():
        by_pinyin.setdefault(pinyin_keys(probe.name)[0], []).append(key)
    out: dict[Any, list[dict[str, Any]]] = {}
    pinyins = sorted(p for p in by_pinyin if p)
    for start in range(0, len(pinyins), 500):
        for row in _rows(session, ctx, pinyins[start:start + 500]):
            if row.archive_no in exclude:
                continue
            for key in by_pinyin[row.name_pinyin]:
                reasons = _reasons(ctx, probes[key], row)
                if reasons:
                    out.setdefault(key, []).append(_shown(ctx, row, reasons))
    return out


def find(session: Session, ctx: Ctx, *, data: dict[str, Any], limit: int = 5,
         exclude_no: str | None = None) -> list[dict[str, Any]]:
    """Likely duplicates of one record being entered, in the viewer's scope, shown per their rights; audited."""
    probe = probe_of(ctx, data) if ctx.principal.sees_customers else None
    if probe is None:
        return []
    found = find_many(session, ctx, {0: probe}, exclude={exclude_no} if exclude_no else set()).get(0, [])[:limit]
    if found:
        ctx.audit(session, action="customer.likely_duplicates", target_type="customer",
                  fields=["customer.name", "customer.city", "customer.district"],
                  detail={"records": [f["archive_no"] for f in found]})
    return found
