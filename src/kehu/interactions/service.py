"""Business rules of follow-ups, communications and the customer timeline. No HTTP; never commits."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kehu import events
from kehu.access import policy
from kehu.catalog.presenter import present, read_fields
from kehu.catalog.validation import clean
from kehu.catalog.vault import Vault
from kehu.customers import repository as customers
from kehu.customers.models import Customer
from kehu.customers.service import minor_of, vault_of
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.interactions import repository as repo
from kehu.interactions.models import Communication, FollowUp
from kehu.kit.ids import new_id
from kehu.runtime import Ctx

MODELS = {"followup": FollowUp, "communication": Communication}


def load_customer(session: Session, ctx: Ctx, archive_no: str, *, writing: bool = False) -> Customer:
    """A customer inside the caller's scope (404 otherwise); writing to an archived one is a conflict."""
    customer = customers.get_by_no(session, ctx.principal, archive_no)
    if customer is None:
        raise NotFound()
    if writing and customer.status == "archived":
        raise Conflict("该客户档案已归档，不能新增记录", code="customer_archived")
    return customer


def clean_record(ctx: Ctx, entity: str, data: dict[str, Any], *,
                 prefix: str = "") -> tuple[dict[str, Any], list[FieldError]]:
    """Catalogue validation of a new record's fields: (values, every field error, named with `prefix`)."""
    required = tuple(s.name for s in ctx.catalog.of(entity) if s.required)
    try:
        values, errors = clean(ctx.catalog, entity, data, required=required), []
    except ValidationFailed as exc:  # keep the valid values so that later checks still name their errors
        errors = list(exc.errors)
        bad = {e.field for e in errors}
        values = clean(ctx.catalog, entity, {k: v for k, v in data.items() if k not in bad})
    return values, [FieldError(prefix + e.field, e.code, e.message) for e in errors]


def require_create(ctx: Ctx, entity: str, values: dict[str, Any], *, minor: bool, also: tuple[str, ...] = ()) -> None:
    """403 unless the caller may create every given field (and `also`, e.g. computed totals) at its level."""
    names = [k for k, val in values.items() if val is not None] + list(also)
    policy.require_fields(ctx.principal, "create", [ctx.catalog.get(entity, n) for n in names], minor=minor)


def store(ctx: Ctx, vault: Vault, record: Any, entity: str, values: dict[str, Any]) -> None:
    """Write validated values into a record (sealing encrypted fields with the customer's key)."""
    for name, value in values.items():
        vault.write(record, ctx.catalog.get(entity, name), value)


def insert_record(session: Session, ctx: Ctx, *, customer: Any, model: type, entity: str, values: dict[str, Any],
                  parent: dict[str, Any], detail: dict | None = None) -> tuple[Any, Vault]:
    """Create a record held under a customer: `create` rights per field, sealed values, one audit entry."""
    require_create(ctx, entity, values, minor=minor_of(customer))
    vault = vault_of(ctx, customer)
    record = model(id=new_id(), created_by=ctx.principal.user_id, **parent)
    store(ctx, vault, record, entity, values)
    session.add(record)
    session.flush()
    ctx.audit(session, action=f"{entity}.create", target_type=entity, target_id=record.id,
              customer_no=customer.archive_no, fields=[f"{entity}.{k}" for k, v in values.items() if v is not None],
              detail=detail)
    return record, vault


def _followed_at(values: dict[str, Any], errors: list[FieldError]) -> None:
    raw = values.get("followed_at")
    if raw is None:
        return
    try:
        when = datetime.fromisoformat(raw.replace("/", "-"))
    except ValueError:
        errors.append(FieldError("followed_at", "datetime_invalid", "跟进时间：格式应为 YYYY-MM-DD HH:MM"))
        return
    if not 1900 <= when.year <= 2100:
        errors.append(FieldError("followed_at", "datetime_range", "跟进时间：超出合理范围"))
        return
    values["followed_at"] = when.strftime("%Y-%m-%d %H:%M")


def _shown(session: Session, ctx: Ctx, customer: Customer, vault: Vault, record: Any, entity: str,
           minor: bool) -> dict[str, Any]:
    body = {"type": entity, "id": record.id,
            **present(ctx.principal, ctx.catalog, entity, record, vault, minor=minor).as_dict(),
            "created_at": record.created_at.isoformat(), "created_by": ctx.names(session)[0].get(record.created_by)}
    if entity == "followup" and body.get("contact_id"):
        contact = repo.contact(session, customer.id, record.contact_id)
        if contact is not None:  # the contact's name is shown by the presenter, per the contact's declaration
            name = present(ctx.principal, ctx.catalog, "contact", contact, vault, minor=minor, only=["name"])
            body["contact_name"] = name.values.get("name")
    return body


def add(session: Session, ctx: Ctx, *, archive_no: str, entity: str, data: dict[str, Any]) -> dict[str, Any]:
    """Record a follow-up or a communication of a customer in scope; audited, `<entity>.created` published."""
    customer = load_customer(session, ctx, archive_no, writing=True)
    values, errors = clean_record(ctx, entity, data)
    if entity == "followup":
        _followed_at(values, errors)
        if values.get("contact_id") and repo.contact(session, customer.id, values["contact_id"]) is None:
            errors.append(FieldError("contact_id", "contact_not_found", "联系人不存在或不属于该客户"))
    if errors:
        raise ValidationFailed(errors)
    minor = minor_of(customer)
    record, vault = insert_record(session, ctx, customer=customer, model=MODELS[entity], entity=entity,
                                  values=values, parent={"customer_id": customer.id})
    events.stage(session, f"{entity}.created", customer_id=customer.id, customer_no=customer.archive_no,
                 record_id=record.id)
    return _shown(session, ctx, customer, vault, record, entity, minor)


def _limit(limit: int | None) -> int:
    return max(1, min(int(limit or 20), 100))


def timeline(session: Session, ctx: Ctx, *, archive_no: str, cursor: str | None = None, limit: int = 20,
             only: str | None = None) -> dict[str, Any]:
    """Follow-ups and communications of a customer, newest first, keyset-paginated (`only` one kind); audited."""
    customer = load_customer(session, ctx, archive_no)
    after, limit = repo.decode_cursor(cursor), _limit(limit)
    rows: list[Any] = []
    if only in (None, "followup"):
        rows += repo.followups(session, customer.id, after=after, limit=limit + 1)
    if only in (None, "communication"):
        rows += repo.communications(session, customer.id, after=after, limit=limit + 1)
    rows.sort(key=lambda r: (repo.sort_key(r), r.id), reverse=True)
    nxt = repo.encode_cursor(repo.sort_key(rows[limit - 1]), rows[limit - 1].id) if len(rows) > limit else None
    rows = rows[:limit]
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    items = [_shown(session, ctx, customer, vault, r, r.__entity__, minor) for r in rows]
    kinds = sorted({r.__entity__ for r in rows})
    if items:
        fields = [f"{e}.{n}" for e in kinds for n in read_fields(ctx.principal, ctx.catalog, e, minor=minor)]
        fields += ["contact.name"] if any(i.get("contact_name") for i in items) else []
        ctx.audit(session, action=f"{only or 'customer'}.{'list' if only else 'timeline'}", target_type="customer",
                  target_id=customer.id, customer_no=customer.archive_no, fields=fields,
                  detail={"records": len(items)})
    return {"items": items, "next_cursor": nxt}


