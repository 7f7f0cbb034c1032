"""Erasure of one customer (删除个人信息), driven by the field declarations, ending in crypto-shredding.

1. every catalogued entity's rows of the customer (found through their declared link, children first):
   - entities with a legal retention (`__retention__`, e.g. accounting 会计档案) are kept *storage-only*:
     fields of the kept categories (transaction, management, business) stay, every other field is
     erased or anonymised per its declaration; the customer's tombstone makes them unusable (below);
   - all other rows are deleted;
2. uncatalogued rows held under the customer (`customer_id`: change history, pool entries…) are deleted;
3. the customer row becomes a tombstone: each field erased / anonymised / kept per declaration
   (the archive number is kept, so it is never reused), search keys and blind indexes cleared,
   status `erased` (outside every scope: `customers.repository.readable`), and the wrapped data key
   replaced by NO_KEY — every value sealed with it, here, in history, in any old backup, is unreadable.
The SQLite store overwrites freed content (`PRAGMA secure_delete`) and truncates the WAL after commit.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from kehu import events
from kehu.catalog.registry import data_models, storage_only
from kehu.catalog.spec import STORAGE_ONLY_KEEPS, FieldSpec
from kehu.customers.models import Customer
from kehu.db import Base, utcnow
from kehu.privacy import links
from kehu.runtime import Ctx, Kehu
from kehu.security.crypto import NO_KEY

log = logging.getLogger("kehu.privacy")
ERASED = "erased"
PLACEHOLDER = "已删除"
#: customer columns that are not declared fields but derive from them (search keys)
DERIVED = ("name_pinyin", "name_initials")


def method(spec: FieldSpec, *, kept_record: bool) -> str:
    """erase / anonymise / keep for one field of a kept row (the tombstone, or a storage-only record)."""
    if kept_record and spec.category in STORAGE_ONLY_KEEPS and spec.erasure != "erase":
        return "keep"
    return spec.erasure_method


def _replacement(spec: FieldSpec, how: str) -> Any:
    if how == "erase" and not spec.required:
        return None
    if spec.encrypted:
        return b""  # an empty envelope: nothing left to decrypt
    return PLACEHOLDER if spec.kind in ("text", "choice") else None


def _blank(ctx: Ctx, entity: str, *, kept_record: bool) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    touched = []
    for spec in ctx.catalog.of(entity):
        how = method(spec, kept_record=kept_record)
        if how == "keep":
            continue
        values[spec.name] = _replacement(spec, how)
        touched.append(spec.key)
        if spec.blind_index:
            values[spec.name + "_bi"] = None
    return values, touched


def _secure_delete(session: Session) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def erase(session: Session, ctx: Ctx, *, customer: Customer) -> tuple[list[dict[str, Any]], list[str]]:
    """Erase one customer everywhere (the caller checked rights, approval, holds): (summary per entity, field keys)."""
    _secure_delete(session)
    summary: Counter = Counter()
    touched: list[str] = []
    models = data_models()
    for entity in sorted((e for e in models if e != "customer"), key=links.depth, reverse=True):
        table = models[entity].__table__
        ids = links.owned_ids(entity, customer.id)
        count = session.execute(select(func.count()).select_from(table).where(table.c.id.in_(ids))).scalar_one()
        if not count:
            continue
        if storage_only(entity):
            values, keys = _blank(ctx, entity, kept_record=True)
            if values:
                session.execute(update(table).where(table.c.id.in_(ids)).values(**values))
            summary[(entity, "storage_only")] += count
            touched += keys
        else:
            session.execute(delete(table).where(table.c.id.in_(ids)))
            summary[(entity, "delete")] += count
            touched += [s.key for s in ctx.catalog.of(entity)]
    for table in held_tables():
        count = session.execute(delete(table).where(table.c.customer_id == customer.id)).rowcount
        if count:
            summary[(table.name, "delete")] += count
    values, keys = _blank(ctx, "customer", kept_record=False)
    values.update({c: None for c in DERIVED})
    values.update(dek=NO_KEY, status=ERASED, updated_at=utcnow(), version=customer.version + 1)
    session.execute(update(Customer).where(Customer.id == customer.id).values(**values)
                    .execution_options(synchronize_session=False))
    ctx.kehu.crypto.forget(customer.dek)
    summary[("customer", "tombstone")] += 1
    touched += keys
    session.expire(customer)
    ctx.audit(session, action="privacy.erase", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=sorted(set(touched)),
              detail={e: n for (e, _m), n in summary.items()})
    events.stage(session, "privacy.erased", customer_no=customer.archive_no, runtime=ctx.kehu)
    return [{"entity": e, "method": m, "count": n} for (e, m), n in sorted(summary.items())], sorted(set(touched))


def held_tables() -> list:
    """Uncatalogued tables holding rows under a customer (`customer_id` → customers)."""
    catalogued = {cls.__tablename__ for cls in data_models().values()}
    out = []
    for table in Base.metadata.sorted_tables:
        col = table.c.get("customer_id")
        if table.name in catalogued or col is None:
            continue
        if any(fk.column.table.name == "customers" for fk in col.foreign_keys):
            out.append(table)
    return out


def settle(kehu: Kehu) -> None:
    """After an erasure commits on SQLite: fold and truncate the WAL so no earlier page image stays on disk."""
    if kehu.db.engine.dialect.name != "sqlite":
        return
    for attempt in range(5):  # a reader still on an older snapshot keeps the WAL busy for a moment
        with kehu.db.engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
        if not busy:
            return
        time.sleep(0.2 * (attempt + 1))
    log.warning("WAL not truncated after an erasure (readers busy); the next checkpoint overwrites it")


def _on_erased(evt: events.Event) -> None:
    settle(evt.payload["runtime"])


events.subscribe("privacy.erased", _on_erased)
