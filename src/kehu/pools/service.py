"""Public pool (公海) / private pool (私海): recycling job, warnings, listing, claiming, settings.

A customer is in the public pool while it has no owner and an open `pool_entries` row.
Last contact = the latest follow-up, communication, claim from the pool, or the creation date.
No HTTP here; never commits.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu import events
from kehu.access import policy
from kehu.catalog.presenter import present
from kehu.catalog.registry import build_catalog
from kehu.catalog.spec import FieldSpec
from kehu.customers.changes import history_row
from kehu.customers.models import Customer, History
from kehu.customers.service import minor_of, vault_of
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.interactions.models import Communication, FollowUp
from kehu.kit.ids import new_id
from kehu.pools import rules
from kehu.pools.models import PoolEntry, RelationshipSetting
from kehu.runtime import Ctx, Kehu

POOL_FIELDS = ["archive_no", "kind", "name", "province", "city", "region", "industry", "importance",
               "source_channel"]
RECYCLE_REASON = "超过{days}天未跟进，自动回收至公海"
CLAIM_REASON = "从公海领取"


@lru_cache(maxsize=1)
def _declared() -> Any:
    return build_catalog({})


def _spec(name: str) -> FieldSpec:
    return _declared().get("customer", name)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def last_contacts(session: Session, customer_ids: list[str] | None = None, *,
                  since_creation: bool = True) -> dict[str, date]:
    """customer id → last contact date (latest follow-up / communication / claim, else creation).

    With `since_creation=False` only recorded contacts count (customers without any are left out).
    """
    def scoped(stmt, col):
        return stmt.where(col.in_(customer_ids)) if customer_ids is not None else stmt

    if customer_ids is not None and not customer_ids:
        return {}
    out: dict[str, date] = {}
    touched: set[str] = set()
    for cid, created in session.execute(scoped(select(Customer.id, Customer.created_at), Customer.id)):
        out[cid] = _as_date(created)
    sources = [
        select(FollowUp.customer_id, func.max(FollowUp.followed_at)).group_by(FollowUp.customer_id),
        select(Communication.customer_id, func.max(Communication.communicated_on)).group_by(
            Communication.customer_id),
        select(PoolEntry.customer_id, func.max(PoolEntry.claimed_at)).where(PoolEntry.claimed_at.is_not(None))
        .group_by(PoolEntry.customer_id),
    ]
    for stmt in sources:
        col = stmt.selected_columns[0]
        for cid, latest in session.execute(scoped(stmt, col)):
            if latest is not None and cid in out:
                out[cid] = max(out[cid], _as_date(latest))
                touched.add(cid)
    return out if since_creation else {k: v for k, v in out.items() if k in touched}


def _owned(session: Session):
    return session.execute(select(Customer).where(Customer.owner_id.is_not(None),
                                                  Customer.status != "archived").order_by(Customer.id)).scalars()


def _due(settings: dict[str, int], customer: Customer, last: date, today: date) -> tuple[int, int]:
    """(N days of the customer's class, days left before recycling); N = 0: never recycled."""
    days = settings[f"recycle_days.{rules.customer_class(customer)}"]
    return days, days - (today - last).days


def recycle(session: Session, kehu: Kehu, *, now: datetime) -> list[str]:
    """Move every owned customer not contacted for N days (N of its class) to the public pool.

    Idempotent: a pooled customer has no owner and is not considered again. Each move writes the
    owner change to the archive history and one audit entry (actor: the system). Returns archive numbers.
    """
    settings, today = rules.load(session), now.date()
    customers = list(_owned(session))
    last = last_contacts(session, [c.id for c in customers]) if customers else {}
    moved = []
    for customer in customers:
        days, left = _due(settings, customer, last[customer.id], today)
        if days <= 0 or left > 0:
            continue
        reason = RECYCLE_REASON.format(days=days)
        previous = customer.owner_id
        # owner_id is not an encrypted field: history_row never needs the customer's vault for it
        session.add(History(**history_row(None, spec=_spec("owner_id"), customer_id=customer.id,  # type: ignore
                                          record_id=customer.id, op="update", old=previous, new=None,
                                          reason=reason, changed_by=None, changed_at=now)))
        customer.owner_id, customer.version, customer.updated_at = None, customer.version + 1, now
        entry = PoolEntry(id=new_id(), customer_id=customer.id, previous_owner_id=previous, pooled_at=now,
                          last_contact_on=last[customer.id].isoformat(), rule_days=days)
        session.add(entry)
        kehu.audit.stage(session, action="pool.recycle", actor_name="system", target_type="customer",
                         target_id=customer.id, customer_no=customer.archive_no, fields=["customer.owner_id"],
                         reason=reason, detail={"previous_owner_id": previous, "last_contact_on":
                                                last[customer.id].isoformat(), "days": days})
        events.stage(session, "pool.recycled", customer_id=customer.id, customer_no=customer.archive_no,
                     previous_owner_id=previous)
        moved.append(customer.archive_no)
    session.flush()
    return moved


def warnings(session: Session, *, now: datetime, owner_id: str | None = None) -> list[dict[str, Any]]:
    """Owned customers that will be recycled within the warning period (all owners, or one)."""
    settings, today = rules.load(session), now.date()
    stmt = select(Customer).where(Customer.owner_id.is_not(None), Customer.status != "archived")
    if owner_id is not None:
        stmt = stmt.where(Customer.owner_id == owner_id)
    customers = list(session.execute(stmt.order_by(Customer.id)).scalars())
    last = last_contacts(session, [c.id for c in customers]) if customers else {}
    out = []
    for customer in customers:
        days, left = _due(settings, customer, last[customer.id], today)
        if days > 0 and 0 < left <= settings["warning_days"]:
            out.append({"owner_id": customer.owner_id, "customer_id": customer.id,
                        "archive_no": customer.archive_no, "last_contact_on": last[customer.id].isoformat(),
                        "recycle_on": (today + timedelta(days=left)).isoformat(), "days_left": left})
    return sorted(out, key=lambda w: (w["days_left"], w["archive_no"]))


def _pool_select(principal):
    stmt = (select(Customer, PoolEntry).join(PoolEntry, PoolEntry.customer_id == Customer.id)
            .where(PoolEntry.claimed_at.is_(None), Customer.owner_id.is_(None), Customer.status != "archived"))
    if principal.importance != frozenset(rules.CLASSES):
        stmt = stmt.where(Customer.importance.in_(sorted(principal.importance)))
    return stmt


def list_pool(session: Session, ctx: Ctx, *, cursor: str | None = None, limit: int = 20) -> dict[str, Any]:
    """The public pool, newest first: every user who may see customers at all sees it (their importance
    classes only), each customer shown through the presenter with a few non-sensitive fields; audited."""
    if not ctx.principal.sees_customers:
        raise Forbidden()
    limit = max(1, min(int(limit or 20), 100))
    stmt = _pool_select(ctx.principal)
    if cursor:
        if len(cursor) > 32:
            raise ValidationFailed([FieldError("cursor", "invalid_cursor", "分页参数无效")])
        stmt = stmt.where(PoolEntry.id < cursor)
    rows = list(session.execute(stmt.order_by(PoolEntry.id.desc()).limit(limit + 1)).all())
    nxt = rows[limit - 1][1].id if len(rows) > limit else None
    rows = rows[:limit]
    users, _ = ctx.names(session)
    items = []
    for customer, entry in rows:
        shown = present(ctx.principal, ctx.catalog, "customer", customer, vault_of(ctx, customer),
                        minor=minor_of(customer), only=POOL_FIELDS)
        items.append({**shown.as_dict(), "pooled_at": entry.pooled_at.isoformat(),
                      "previous_owner_name": users.get(entry.previous_owner_id),
                      "last_contact_on": entry.last_contact_on})
    if items:
        fields = sorted({f"customer.{k}" for it in items for k in it if f"customer.{k}" in ctx.catalog.fields
                         and ctx.catalog.get("customer", k).level < 3})
        ctx.audit(session, action="pool.list", target_type="customer", fields=fields,
                  detail={"records": [c.archive_no for c, _e in rows]})
    return {"items": items, "next_cursor": nxt}


def claim(session: Session, ctx: Ctx, *, archive_no: str, now: datetime) -> dict[str, Any]:
    """Take a customer from the public pool into the caller's private pool (cap and cooldown apply)."""
    principal = ctx.principal
    if not principal.sees_customers:
        raise Forbidden()
    row = session.execute(_pool_select(principal).where(Customer.archive_no == archive_no)
                          .order_by(PoolEntry.id.desc()).limit(1).with_for_update()).first()
    if row is None:
        raise NotFound("公海中没有该客户（可能已被他人领取）", code="not_in_pool")
    customer, entry = row
    policy.require_fields(principal, "modify", [ctx.catalog.get("customer", "owner_id")], minor=minor_of(customer))
    settings = rules.load(session)
    cooldown = settings["cooldown_days"]
    if entry.previous_owner_id == principal.user_id and cooldown > 0:
        until = entry.pooled_at + timedelta(days=cooldown)
        if now < until:
            day = until.date().isoformat()
            raise Conflict(f"您是该客户的前负责人，回收后{cooldown}天内不能重新领取（{day}后可领取）",
                           code="pool_cooldown", detail={"available_on": day})
    cap = settings["private_cap"]
    owned = session.execute(select(func.count()).select_from(Customer).where(
        Customer.owner_id == principal.user_id, Customer.status != "archived")).scalar_one()
    if owned >= cap:
        raise Conflict(f"您的私海客户已达上限（{cap}个），请先释放或转移部分客户后再领取",
                       code="pool_cap_reached", detail={"cap": cap, "owned": owned})
    changes = {"owner_id": (customer.owner_id, principal.user_id)}
    if principal.department_id and principal.department_id != customer.department_id:
        changes["department_id"] = (customer.department_id, principal.department_id)
    vault = vault_of(ctx, customer)
    for name, (old, new) in changes.items():
        session.add(History(**history_row(vault, spec=ctx.catalog.get("customer", name), customer_id=customer.id,
                                          record_id=customer.id, op="update", old=old, new=new,
                                          reason=CLAIM_REASON, changed_by=principal.user_id, changed_at=now)))
        setattr(customer, name, new)
    customer.version, customer.updated_at = customer.version + 1, now
    entry.claimed_by, entry.claimed_at = principal.user_id, now
    session.flush()
    ctx.audit(session, action="pool.claim", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=[f"customer.{k}" for k in sorted(changes)],
              reason=CLAIM_REASON, detail={"pool_entry": entry.id})
    events.stage(session, "pool.claimed", customer_id=customer.id, customer_no=customer.archive_no,
                 owner_id=principal.user_id)
    return {"archive_no": customer.archive_no, "owner_id": principal.user_id,
            "department_id": customer.department_id, "claimed_at": now.isoformat()}


def get_settings(session: Session, ctx: Ctx) -> dict[str, Any]:
    """The rules with their labels (readable by every signed-in user: they concern everyone)."""
    values = rules.load(session)
    return {"items": [{"key": k, "value": values[k], "default": d, "label": label}
                      for k, (d, label) in rules.SETTINGS.items()]}


def update_settings(session: Session, ctx: Ctx, *, values: dict[str, Any]) -> dict[str, Any]:
    """Change rules (needs the `manage_pool` capability); audited with old → new values."""
    policy.require_capability(ctx.principal, "manage_pool")
    errors, clean = [], {}
    for key, value in values.items():
        if key not in rules.SETTINGS:
            errors.append(FieldError(key, "unknown_field", "未知的规则项"))
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= rules.MAX_VALUE:
            errors.append(FieldError(key, "out_of_range", f"应为0到{rules.MAX_VALUE}之间的整数"))
        else:
            clean[key] = value
    if errors:
        raise ValidationFailed(errors)
    current = rules.load(session)
    changed = {}
    for key, value in clean.items():
        if current[key] == value:
            continue
        row = session.get(RelationshipSetting, key)
        if row is None:
            session.add(RelationshipSetting(key=key, value=value, updated_by=ctx.principal.user_id))
        else:
            row.value, row.updated_by = value, ctx.principal.user_id
        changed[key] = [current[key], value]
    session.flush()
    if changed:
        ctx.audit(session, action="pool.settings", target_type="settings", detail={"changed": changed})
    return get_settings(session, ctx)
