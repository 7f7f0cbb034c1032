"""Child records of an archive (contacts, addresses, anniversaries, associated people): one generic path."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.catalog.presenter import present
from kehu.catalog.validation import clean
from kehu.catalog.vault import to_text
from kehu.customers.service import (CHILDREN, _add_child_record, _history, _load, _reason, _require_write,
                                    minor_of, vault_of)
from kehu.db import utcnow
from kehu.errors import FieldError, NotFound, ValidationFailed
from kehu.runtime import Ctx


def _find(customer, entity: str, record_id: str):
    if entity not in CHILDREN:
        raise NotFound()
    record = next((r for r in getattr(customer, CHILDREN[entity][1]) if r.id == record_id), None)
    if record is None:
        raise NotFound()
    return record


def _touch(customer) -> None:
    customer.version += 1
    customer.updated_at = utcnow()


def add(session: Session, ctx: Ctx, *, archive_no: str, entity: str, data: dict[str, Any],
        reason: str | None) -> dict[str, Any]:
    """Add a child record to an archive (needs `modify` on the archive's fields of that level)."""
    customer = _load(session, ctx, archive_no, for_update=True)
    required = tuple(s.name for s in ctx.catalog.of(entity) if s.required)
    values = clean(ctx.catalog, entity, data, required=required)
    minor = minor_of(customer)
    _require_write(ctx, "modify", entity, [k for k, v in values.items() if v is not None], minor=minor)
    vault = vault_of(ctx, customer)
    record = _add_child_record(session, ctx, vault, customer, entity, values, reason=reason)
    _touch(customer)
    ctx.audit(session, action=f"{entity}.create", target_type=entity, target_id=record.id,
              customer_no=customer.archive_no, fields=[f"{entity}.{k}" for k, v in values.items() if v is not None],
              reason=reason)
    session.flush()
    return {"id": record.id, **present(ctx.principal, ctx.catalog, entity, record, vault, minor=minor).as_dict()}


def update(session: Session, ctx: Ctx, *, archive_no: str, entity: str, record_id: str, data: dict[str, Any],
           reason: str | None) -> dict[str, Any]:
    """Change fields of a child record; recorded in the archive's history."""
    customer = _load(session, ctx, archive_no, for_update=True)
    reason = _reason(reason)
    record = _find(customer, entity, record_id)
    values = clean(ctx.catalog, entity, data)
    missing = [s for s in ctx.catalog.of(entity) if s.required and s.name in values and values[s.name] is None]
    if missing:
        raise ValidationFailed([FieldError(s.name, "required", f"请填写{s.label}") for s in missing])
    minor = minor_of(customer)
    _require_write(ctx, "modify", entity, list(values), minor=minor)
    vault = vault_of(ctx, customer)
    changed = []
    for name, new in values.items():
        spec = ctx.catalog.get(entity, name)
        old = vault.read(record, spec)
        if (None if old is None else to_text(old)) != (None if new is None else to_text(new)):
            vault.write(record, spec, new)
            _history(session, vault, ctx=ctx, customer_id=customer.id, spec=spec, record_id=record.id, op="update",
                     old=old, new=new, reason=reason)
            changed.append(f"{entity}.{name}")
    if changed:
        _touch(customer)
    ctx.audit(session, action=f"{entity}.update", target_type=entity, target_id=record.id,
              customer_no=customer.archive_no, fields=changed, reason=reason)
    return {"id": record.id, **present(ctx.principal, ctx.catalog, entity, record, vault, minor=minor).as_dict()}


def delete(session: Session, ctx: Ctx, *, archive_no: str, entity: str, record_id: str,
           reason: str | None) -> dict[str, Any]:
    """Remove a child record (needs `delete` at every level it holds); its values go to the history."""
    customer = _load(session, ctx, archive_no, for_update=True)
    reason = _reason(reason)
    record = _find(customer, entity, record_id)
    minor = minor_of(customer)
    held = [s for s in ctx.catalog.of(entity) if getattr(record, s.name) is not None]
    policy.require_fields(ctx.principal, "delete", held, minor=minor)
    vault = vault_of(ctx, customer)
    for spec in held:
        _history(session, vault, ctx=ctx, customer_id=customer.id, spec=spec, record_id=record.id, op="delete",
                 old=vault.read(record, spec), new=None, reason=reason)
    getattr(customer, CHILDREN[entity][1]).remove(record)
    _touch(customer)
    ctx.audit(session, action=f"{entity}.delete", target_type=entity, target_id=record_id,
              customer_no=customer.archive_no, fields=[s.key for s in held], reason=reason)
    return {"id": record_id, "deleted": True}

