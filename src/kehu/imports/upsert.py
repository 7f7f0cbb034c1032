"""Rows that meet existing archives: matching by archive number or identifier, and the update itself
(through `customers.service.update`, so its checks, rights, history and audit apply)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.catalog.validation import check_all
from kehu.catalog.vault import to_text
from kehu.customers import service as customers
from kehu.customers.models import Customer
from kehu.errors import Conflict, FieldError, KehuError, ValidationFailed
from kehu.imports import mapping
from kehu.imports.models import ImportJob
from kehu.imports.rows import Row
from kehu.runtime import Ctx

#: Identifiers an existing archive is matched on (blind index, USCC in plain), in this order.
MATCH_FIELDS = ("id_number", "uscc", "mobile", "email")


def reason_of(job: ImportJob) -> str:
    """The change reason of every write of a job."""
    return f"批量导入 {job.file_name}"[:500]


def match(session: Session, ctx: Ctx, rows: list[Row]) -> dict[int, list[tuple]]:
    """Existing archives (id, archive_no, owner, department, importance) per row, by archive number or identifier."""
    out: dict[int, list[tuple]] = {}
    cols = (Customer.id, Customer.archive_no, Customer.owner_id, Customer.department_id, Customer.importance)
    by_no = {r.archive_no for r in rows if r.archive_no}
    found_no = {}
    for part in _chunks(sorted(by_no), 500):
        for hit in session.execute(select(*cols).where(Customer.archive_no.in_(part))):
            found_no[hit[1]] = tuple(hit)
    wanted: dict[str, dict[Any, list[int]]] = {}
    for n, r in enumerate(rows):
        if r.archive_no:
            out[n] = [found_no[r.archive_no]] if r.archive_no in found_no else []
            continue
        for name in MATCH_FIELDS:
            raw = r.data.get(name)
            if raw is None:
                continue
            values, errors = check_all(ctx.catalog, "customer", {name: raw})
            if errors or values.get(name) is None:
                continue
            spec = ctx.catalog.get("customer", name)
            key = ctx.kehu.crypto.blind_index(spec.blind_index, to_text(values[name])) if spec.blind_index \
                else values[name]
            wanted.setdefault(name, {}).setdefault(key, []).append(n)
    for name, keys in wanted.items():
        col = Customer.uscc if name == "uscc" else getattr(Customer, f"{name}_bi")
        for part in _chunks(sorted(keys), 500):
            for hit in session.execute(select(col, *cols).where(col.in_(part))):
                for n in keys[hit[0]]:
                    if tuple(hit[1:]) not in out.setdefault(n, []):
                        out[n].append(tuple(hit[1:]))
    return out


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _changes(session: Session, ctx: Ctx, customer_id: str, data: dict[str, Any], on_existing: str
             ) -> tuple[dict[str, Any], dict[str, str]]:
    """(the fields to send to service.update, field → "filled" / "overwritten") for one matched row."""
    values, _errors = check_all(ctx.catalog, "customer", data)
    customer = session.get(Customer, customer_id)
    vault = customers.vault_of(ctx, customer)
    send, kinds = {}, {}
    for name, raw in data.items():
        if name == "kind":
            continue
        if name not in values:  # malformed: service.update reports it
            send[name] = raw
            continue
        old = vault.read(customer, ctx.catalog.get("customer", name))
        if old is not None and on_existing == "fill":
            continue
        if (None if old is None else to_text(old)) != to_text(values[name]):
            send[name] = raw
            kinds[name] = "filled" if old is None else "overwritten"
    return send, kinds


def hit_error(ctx: Ctx, hits: list[tuple], row: Row) -> FieldError | None:
    visible = [h for h in hits if policy.in_scope(ctx.principal, owner_id=h[2], department_id=h[3], importance=h[4])]
    if row.archive_no and not visible:
        return FieldError(mapping.ARCHIVE_NO, "archive_not_found", f"未找到档案编号{row.archive_no}，或您无权访问")
    if not visible:
        return FieldError(None, "duplicate", "已存在相同标识的客户档案（不在您的权限范围内，请联系信息管理员）")  # type: ignore[arg-type]
    if len({h[0] for h in hits}) > 1:
        return FieldError(None, "ambiguous_match", "标识对应多个不同的客户档案：" + "、".join(sorted({h[1] for h in visible})))  # type: ignore[arg-type]
    return None


def update(session: Session, ctx: Ctx, job: ImportJob, row: Row, hit: tuple, *, dry_run: bool,
           consent: Any = None) -> tuple[str, dict[str, str], list[FieldError]]:
    """Apply (or in a dry run, try and undo) one row's changes; ('updated'|'unchanged'|'rejected', kinds, errors).

    `consent` (a `kehu.consent.basis.Basis`) goes with the change, as with `PATCH /customers/{no}`: its
    sensitive consent covers level-1 values, its guardian a customer becoming a minor, and it is recorded
    as a new grant of the archive (an unchanged row records nothing)."""
    data = {k: v for k, v in row.data.items() if k != "contacts"}
    send, kinds = _changes(session, ctx, hit[0], data, job.on_existing)
    if not send:
        return "unchanged", {}, []
    savepoint = session.begin_nested()
    try:
        body = send if consent is None else {**send, "consent": consent}
        customers.update(session, ctx, archive_no=hit[1], data=body, reason=reason_of(job))
        session.flush()
    except KehuError as exc:
        savepoint.rollback()
        if isinstance(exc, ValidationFailed):
            return "rejected", {}, list(exc.errors)
        return "rejected", {}, [FieldError(exc.detail.get("field") if isinstance(exc, Conflict) else None,  # type: ignore[arg-type]
                                           exc.code, exc.message)]
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    return "updated", kinds, []
