"""今日待办: follow-ups due and overdue, planned return visits, birthdays and anniversaries, pool warnings.

Only customers in the caller's scope; every value goes through the policy / presenter (a birthday whose
date the caller may not see in plain is left out). No HTTP; never commits.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.catalog.presenter import present
from kehu.customers.models import Anniversary, Customer
from kehu.customers.repository import readable
from kehu.customers.service import minor_of, vault_of
from kehu.errors import FieldError, ValidationFailed
from kehu.interactions.models import FollowUp
from kehu.pools import rules
from kehu.pools.service import last_contacts, warnings
from kehu.runtime import Ctx

KINDS = {"followup_due": "今日计划跟进", "followup_overdue": "跟进已逾期", "visit_due": "计划回访",
         "birthday": "生日", "anniversary": "纪念日", "pool_warning": "即将回收至公海"}
MAX_ITEMS = 500


def next_occurrence(day: date, today: date) -> date:
    """The next date (today included) with the month and day of `day` (29 Feb → 28 Feb in other years)."""
    for year in (today.year, today.year + 1):
        try:
            hit = day.replace(year=year)
        except ValueError:
            hit = date(year, 2, 28)
        if hit >= today:
            return hit
    raise AssertionError("unreachable")


def _in_scope(ctx: Ctx):
    return (readable(ctx.principal), Customer.status != "archived")


def _followups(session: Session, ctx: Ctx, today: date) -> list[tuple[str, Customer, dict]]:
    latest = (select(FollowUp.customer_id, func.max(FollowUp.followed_at).label("at"))
              .group_by(FollowUp.customer_id).subquery())
    rows = session.execute(
        select(FollowUp, Customer).join(Customer, Customer.id == FollowUp.customer_id)
        .join(latest, (latest.c.customer_id == FollowUp.customer_id) & (latest.c.at == FollowUp.followed_at))
        .where(*_in_scope(ctx), FollowUp.next_followup_on.is_not(None), FollowUp.next_followup_on <= today)
        .order_by(FollowUp.next_followup_on, FollowUp.id).limit(MAX_ITEMS)).all()
    last = last_contacts(session, sorted({c.id for _f, c in rows}), since_creation=False)
    out, seen = [], set()
    for f, c in rows:
        if c.id in seen:
            continue
        seen.add(c.id)
        if f.next_followup_on == today:
            out.append(("followup_due", c, {"date": today.isoformat(), "method": f.method}))
        elif last.get(c.id, date.min) < f.next_followup_on:  # nothing recorded since the planned date
            out.append(("followup_overdue", c, {"date": f.next_followup_on.isoformat(),
                                                "days_overdue": (today - f.next_followup_on).days}))
    return out


def _visits(session: Session, ctx: Ctx, today: date, settings: dict[str, int]) -> list[tuple[str, Customer, dict]]:
    classes = [k for k in rules.CLASSES if settings[f"visit_days.{k}"] > 0]
    if not classes:
        return []
    customers = list(session.execute(select(Customer).where(*_in_scope(ctx), Customer.importance.in_(classes))
                                     .order_by(Customer.id).limit(5000)).scalars())
    last = last_contacts(session, [c.id for c in customers])
    out = []
    for c in customers:
        every = settings[f"visit_days.{rules.customer_class(c)}"]
        due = last[c.id] + timedelta(days=every)
        if due <= today:
            out.append(("visit_due", c, {"date": due.isoformat(), "every_days": every,
                                         "last_contact_on": last[c.id].isoformat()}))
    return out


def _plain(ctx: Ctx, entity: str, name: str, customer: Customer) -> bool:
    return policy.display_state(ctx.principal, ctx.catalog.get(entity, name), minor=minor_of(customer)) == "plain"


def _care(session: Session, ctx: Ctx, today: date, ahead: int) -> list[tuple[str, Customer, dict]]:
    end, out = today + timedelta(days=ahead), []
    for c in session.execute(select(Customer).where(*_in_scope(ctx), Customer.birth_date.is_not(None))
                             .order_by(Customer.id).limit(20000)).scalars():
        hit = next_occurrence(c.birth_date, today)
        if hit <= end and _plain(ctx, "customer", "birth_date", c):
            out.append(("birthday", c, {"date": hit.isoformat(), "days_ahead": (hit - today).days}))
    rows = session.execute(select(Anniversary, Customer).join(Customer, Customer.id == Anniversary.customer_id)
                           .where(*_in_scope(ctx)).order_by(Anniversary.id).limit(20000)).all()
    for a, c in rows:
        hit = next_occurrence(a.day, today)
        if hit <= end and _plain(ctx, "anniversary", "day", c):
            shown = present(ctx.principal, ctx.catalog, "anniversary", a, vault_of(ctx, c), minor=minor_of(c),
                            only=["kind", "note"]).values
            out.append(("anniversary", c, {"date": hit.isoformat(), "days_ahead": (hit - today).days,
                                           "anniversary_kind": shown.get("kind"), "note": shown.get("note")}))
    return out


def _pool(session: Session, ctx: Ctx, today: date) -> list[tuple[str, Customer, dict]]:
    found = warnings(session, now=datetime.combine(today, time(12)), owner_id=ctx.principal.user_id)
    if not found:
        return []
    customers = {c.id: c for c in session.execute(select(Customer).where(
        Customer.id.in_([w["customer_id"] for w in found]), readable(ctx.principal))).scalars()}
    return [("pool_warning", customers[w["customer_id"]], {"date": w["recycle_on"], "days_left": w["days_left"],
                                                          "last_contact_on": w["last_contact_on"]})
            for w in found if w["customer_id"] in customers]


def todo(session: Session, ctx: Ctx, *, today: date, days: int | None = None) -> dict[str, Any]:
    """The caller's 今日待办 on `today`; birthdays/anniversaries within `days` (default: the care rule)."""
    settings = rules.load(session)
    ahead = settings["care_days_ahead"] if days is None else days
    if not 0 <= ahead <= 366:
        raise ValidationFailed([FieldError("days", "out_of_range", "应为0到366之间的整数")])
    if not ctx.principal.sees_customers:
        return {"date": today.isoformat(), "items": []}
    found = (_followups(session, ctx, today) + _visits(session, ctx, today, settings) +
             _care(session, ctx, today, ahead) + _pool(session, ctx, today))
    names: dict[str, Any] = {}
    items = []
    for kind, c, extra in found:
        if c.id not in names:
            names[c.id] = present(ctx.principal, ctx.catalog, "customer", c, vault_of(ctx, c), minor=minor_of(c),
                                  only=["name", "importance"]).values
        items.append({"kind": kind, "kind_name": KINDS[kind], "archive_no": c.archive_no,
                      "customer_name": names[c.id].get("name"), "importance": names[c.id].get("importance"),
                      **extra})
    items.sort(key=lambda i: (i["date"], list(KINDS).index(i["kind"]), i["archive_no"]))
    if items:
        kinds = {i["kind"] for i in items}
        fields = ["customer.name"] + (["customer.birth_date"] if "birthday" in kinds else []) + \
            (["anniversary.day", "anniversary.kind", "anniversary.note"] if "anniversary" in kinds else [])
        ctx.audit(session, action="todo.list", target_type="customer", fields=fields,
                  detail={"records": sorted({i["archive_no"] for i in items}), "date": today.isoformat()})
    return {"date": today.isoformat(), "items": items}
