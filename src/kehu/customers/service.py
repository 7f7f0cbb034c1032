"""Business rules of the customer archive. No HTTP here; the caller owns the transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kehu import events
from kehu.access import policy
from kehu.access.models import Department, User
from kehu.catalog.presenter import present, read_fields
from kehu.catalog.spec import FieldSpec
from kehu.catalog.validation import check_all, clean
from kehu.catalog.vault import Vault, to_text
from kehu.consent import basis as consent
from kehu.customers import repository as repo
from kehu.customers import rules
from kehu.customers.changes import CREATED, creation_row, history_row
from kehu.customers.search import conditions, filter_conditions
from kehu.customers.models import Address, Anniversary, Contact, Customer, History, Relation
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.kit.masking import mask
from kehu.kit.validate import id_birth_date
from kehu.kit.pinyin import pinyin_keys
from kehu.runtime import Ctx

#: Child records of an archive: entity → (model, relationship attribute).
CHILDREN: dict[str, tuple[type, str]] = {
    "contact": (Contact, "contacts"),
    "address": (Address, "addresses"),
    "anniversary": (Anniversary, "anniversaries"),
    "relation": (Relation, "relations"),
}

LIST_FIELDS = ["archive_no", "kind", "name", "mobile", "province", "city", "region", "importance", "status",
               "owner_id", "department_id"]


def vault_of(ctx: Ctx, customer: Any) -> Vault:
    """The vault holding this customer's data key."""
    return Vault(ctx.kehu.crypto, customer_id=customer.id, wrapped_dek=customer.dek)


def minor_of(customer: Any) -> bool:
    """Whether the customer's personal data counts as a minor's (level 1)."""
    return policy.is_minor(customer.kind, customer.birth_date)


def _load(session: Session, ctx: Ctx, archive_no: str, *, for_update: bool = False) -> Customer:
    customer = repo.get_by_no(session, ctx.principal, archive_no, for_update=for_update)
    if customer is None:
        raise NotFound()
    return customer


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < 2:
        raise ValidationFailed([FieldError("reason", "reason_required", "请填写原因（至少2个字）")])
    if len(text) > 500:
        raise ValidationFailed([FieldError("reason", "too_long", "原因不能超过500个字符")])
    return text


def _require_write(ctx: Ctx, action: str, entity: str, names: list[str], *, minor: bool) -> list[FieldSpec]:
    specs = [ctx.catalog.get(entity, n) for n in names if f"{entity}.{n}" in ctx.catalog.fields]
    policy.require_fields(ctx.principal, action, specs, minor=minor)
    return specs


def _history(session: Session, vault: Vault, *, ctx: Ctx, customer_id: str, spec: FieldSpec, record_id: str,
             op: str, old: Any, new: Any, reason: str | None) -> None:
    session.add(History(**history_row(vault, spec=spec, customer_id=customer_id, record_id=record_id, op=op,
                                      old=old, new=new, reason=reason, changed_by=ctx.principal.user_id)))


def _check_refs(session: Session, ctx: Ctx, values: dict[str, Any]) -> list[FieldError]:
    errors = []
    owner_id, dept_id = values.get("owner_id"), values.get("department_id")
    if owner_id is not None:
        user = session.get(User, owner_id)
        if user is None or not user.active:
            errors.append(FieldError("owner_id", "owner_not_found", "负责人不存在或已停用"))
    if dept_id is not None and session.get(Department, dept_id) is None:
        errors.append(FieldError("department_id", "department_not_found", "所属部门不存在"))
    return errors


def duplicate_hits(session: Session, ctx: Ctx, values: dict[str, Any], *, exclude_id: str | None = None):
    """(field, spec, [(id, archive_no, owner, department, importance)…]) of archives sharing an exact identifier.

    Mobile / ID number / e-mail by blind index (customers and contacts), USCC by value.
    """
    for name in ("id_number", "mobile", "email", "uscc"):
        value = values.get(name)
        if value is None:
            continue
        spec = ctx.catalog.get("customer", name)
        if spec.blind_index:
            hits = repo.ids_by_blind(session, f"{name}_bi", ctx.kehu.crypto.blind_indexes(spec.blind_index, to_text(value)))
        else:
            hits = repo.ids_by_uscc(session, value)
        hits = [h for h in hits if h[0] != exclude_id]
        if hits:
            yield name, spec, hits


def _check_duplicates(session: Session, ctx: Ctx, values: dict[str, Any], *, exclude_id: str | None) -> None:
    """Exact duplicates on mobile / ID number / e-mail / USCC are refused, pointing to the archive if visible."""
    for name, spec, hits in duplicate_hits(session, ctx, values, exclude_id=exclude_id):
        visible = [h for h in hits if policy.in_scope(ctx.principal, owner_id=h[2], department_id=h[3],
                                                       importance=h[4])]
        if visible:
            raise Conflict(f"已存在相同{spec.label}的客户档案：{visible[0][1]}", code="duplicate",
                           detail={"field": name, "archive_no": visible[0][1]})
        raise Conflict(f"已存在相同{spec.label}的客户档案（不在您的权限范围内，请联系信息管理员）",
                       code="duplicate", detail={"field": name, "archive_no": None})


def _clean_children(ctx: Ctx, children: dict[str, list[dict]] | None) -> tuple[dict[str, list[dict]], list[FieldError]]:
    out, errors = {}, []
    for entity, items in (children or {}).items():
        if entity not in CHILDREN:
            errors.append(FieldError(entity, "unknown_field", "未知的子记录类型"))
            continue
        required = tuple(s.name for s in ctx.catalog.of(entity) if s.required)
        out[entity] = []
        for i, item in enumerate(items or []):
            try:
                out[entity].append(clean(ctx.catalog, entity, item, required=required))
            except ValidationFailed as exc:
                errors += [FieldError(f"{CHILDREN[entity][1]}[{i}].{e.field}", e.code, e.message) for e in exc.errors]
    return out, errors


def create(session: Session, ctx: Ctx, *, data: dict[str, Any], children: dict[str, list[dict]] | None = None,
           reason: str | None = None) -> Customer:
    """Create an archive (with optional contacts, addresses, anniversaries, relations)."""
    if not ctx.principal.sees_customers:
        raise Forbidden()
    data = dict(data)
    raw_consent = data.pop("consent", None)  # the legal basis of the collection (kehu.consent)
    values, errors = check_all(ctx.catalog, "customer", data, required=("kind", "name"))
    kids, kid_errors = _clean_children(ctx, children)
    values.setdefault("owner_id", None)
    values.setdefault("department_id", None)
    values["owner_id"] = values["owner_id"] or ctx.principal.user_id
    if values["department_id"] is None:
        owner = session.get(User, values["owner_id"])
        values["department_id"] = owner.department_id if owner else ctx.principal.department_id
    if values.get("id_number") and not values.get("birth_date"):
        values["birth_date"] = id_birth_date(values["id_number"])
    values.setdefault("importance", "normal")
    values.setdefault("status", "active")
    # the archive rules run even when some fields are malformed, so every problem is reported at once;
    # a field that was given but is malformed counts as present (its own error already says what is wrong)
    bad = {e.field for e in errors}
    present_ = {k: v is not None for k, v in values.items()} | {k: True for k in bad}
    errors += [e for e in rules.check(values, present_) + _check_refs(session, ctx, values) if e.field not in bad]
    errors += kid_errors
    basis, consent_errors = consent.parse(session, raw_consent)
    errors += consent_errors + consent.check(basis, minor=policy.is_minor(values.get("kind"), values.get("birth_date")),
                                             given=_given(ctx, values, kids, bad))
    if errors:
        raise ValidationFailed(errors)
    minor = policy.is_minor(values["kind"], values.get("birth_date"))
    given = [k for k, v in values.items() if v is not None]
    _require_write(ctx, "create", "customer", given, minor=minor)
    for entity, items in kids.items():
        _require_write(ctx, "create", entity, sorted({k for it in items for k, v in it.items() if v is not None}),
                       minor=minor)
    if not policy.in_scope(ctx.principal, owner_id=values["owner_id"], department_id=values["department_id"],
                           importance=values["importance"]):
        raise Forbidden("不能将客户分配到您的权限范围之外", code="owner_out_of_scope")
    _check_duplicates(session, ctx, values, exclude_id=None)

    now = utcnow()
    customer = Customer(id=new_id(), created_at=now, updated_at=now, created_by=ctx.principal.user_id, version=1)
    vault = Vault.new(ctx.kehu.crypto, customer_id=customer.id)
    customer.dek = vault.wrapped
    customer.archive_no = repo.next_archive_no(session, now.year)
    for name, value in values.items():
        vault.write(customer, ctx.catalog.get("customer", name), value)
    customer.name_pinyin, customer.name_initials = pinyin_keys(values["name"])
    session.add(customer)
    session.add(History(**creation_row(customer_id=customer.id, reason=reason, changed_by=ctx.principal.user_id,
                                       changed_at=now)))
    touched = [f"customer.{k}" for k in given]
    for entity, items in kids.items():
        for item in items:
            _add_child_record(session, ctx, vault, customer, entity, item, reason=reason, history=False)
            touched += [f"{entity}.{k}" for k, v in item.items() if v is not None]
    consent.grant(session, ctx, customer_id=customer.id, vault=vault, basis=basis, audit=False)
    touched += consent.GRANT_FIELDS + (consent.GUARDIAN_FIELDS if basis.guardian_name else [])
    ctx.audit(session, action="customer.create", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=sorted(set(touched)), reason=reason)
    events.stage(session, "customer.created", customer_id=customer.id, customer_no=customer.archive_no)
    return customer


def _given(ctx: Ctx, values: dict[str, Any], kids: dict[str, list[dict]], bad: set[str]) -> list[tuple[str, FieldSpec]]:
    """(input name, spec) of every valid value being set, children included (for the consent rules)."""
    given = [(k, ctx.catalog.get("customer", k)) for k, v in values.items() if v is not None and k not in bad]
    for entity, items in kids.items():
        given += [(f"{CHILDREN[entity][1]}[{i}].{k}", ctx.catalog.get(entity, k))
                  for i, item in enumerate(items) for k, v in item.items() if v is not None]
    return given


def _add_child_record(session: Session, ctx: Ctx, vault: Vault, customer: Customer, entity: str,
                      values: dict[str, Any], *, reason: str | None, history: bool = True):
    """Add a child record; `history=False` when it is part of a new archive (recorded by its creation row)."""
    model, attr = CHILDREN[entity]
    record = model(id=new_id(), customer_id=customer.id)
    for name, value in values.items():
        vault.write(record, ctx.catalog.get(entity, name), value)
    getattr(customer, attr).append(record)
    for name, value in values.items() if history else ():
        if value is not None:
            _history(session, vault, ctx=ctx, customer_id=customer.id, spec=ctx.catalog.get(entity, name),
                     record_id=record.id, op="create", old=None, new=value, reason=reason)
    return record


def _rule_state(customer: Customer, vault: Vault, ctx: Ctx, values: dict[str, Any]) -> tuple[dict, dict]:
    """Merged state for the archive rules: presence of every field, plaintext only where a rule needs it."""
    merged = {}
    presence = {}
    for spec in ctx.catalog.of("customer"):
        current = getattr(customer, spec.name)
        new = values.get(spec.name, current) if spec.name in values else current
        presence[spec.name] = new is not None
        if spec.name in ("kind", "importance", "birth_date"):
            merged[spec.name] = new
    if presence.get("id_number") and presence.get("birth_date") and ("id_number" in values or "birth_date" in values):
        merged["id_number"] = values["id_number"] if "id_number" in values else vault.read(
            customer, ctx.catalog.get("customer", "id_number"))
    return merged, presence


def update(session: Session, ctx: Ctx, *, archive_no: str, data: dict[str, Any], reason: str | None,
           version: int | None = None) -> Customer:
    """Change fields of an archive; every changed field is recorded old → new with the reason."""
    customer = _load(session, ctx, archive_no, for_update=True)
    reason = _reason(reason)
    if "kind" in data and data["kind"] not in (None, "") and data["kind"] != customer.kind:
        raise ValidationFailed([FieldError("kind", "read_only", "客户类型创建后不能修改")])
    raw_consent = data.get("consent")
    data = {k: v for k, v in data.items() if k not in ("kind", "consent")}
    values = clean(ctx.catalog, "customer", data)
    vault = vault_of(ctx, customer)
    minor = minor_of(customer) or policy.is_minor(customer.kind, values.get("birth_date"))
    _require_write(ctx, "modify", "customer", list(values), minor=minor)
    if version is not None and version != customer.version:
        raise Conflict("该档案已被他人修改，请刷新后重试", code="version_conflict",
                       detail={"current_version": customer.version})
    changed = {}
    for name, value in values.items():
        spec = ctx.catalog.get("customer", name)
        old = vault.read(customer, spec)
        if (None if old is None else to_text(old)) != (None if value is None else to_text(value)):
            changed[name] = (old, value)
    errors, basis = [], None
    if raw_consent is not None:
        basis, consent_errors = consent.parse(session, raw_consent)
        errors += consent_errors
    if changed:
        merged, presence = _rule_state(customer, vault, ctx, {k: v[1] for k, v in changed.items()})
        errors += rules.check(merged, presence)
        errors += _check_refs(session, ctx, {k: v[1] for k, v in changed.items()})
        errors += consent.check(
            basis, minor=minor, given=[(k, ctx.catalog.get("customer", k)) for k, v in changed.items() if v[1] is not None],
            sensitive_in_force=consent.in_force(session, customer.id, consent.SENSITIVE) is True,
            guardian_in_force="birth_date" not in changed or consent.guardian_recorded(session, customer.id))
    if errors:
        raise ValidationFailed(errors)
    if {"owner_id", "department_id", "importance"} & set(changed):
        owner = changed.get("owner_id", (None, customer.owner_id))[1]
        dept = changed.get("department_id", (None, customer.department_id))[1]
        importance = changed.get("importance", (None, customer.importance))[1]
        if not policy.in_scope(ctx.principal, owner_id=owner, department_id=dept, importance=importance):
            raise Forbidden("不能将客户转移到您的权限范围之外", code="owner_out_of_scope")
    _check_duplicates(session, ctx, {k: v[1] for k, v in changed.items()}, exclude_id=customer.id)
    for name, (old, new) in changed.items():
        spec = ctx.catalog.get("customer", name)
        vault.write(customer, spec, new)
        _history(session, vault, ctx=ctx, customer_id=customer.id, spec=spec, record_id=customer.id,
                 op="update", old=old, new=new, reason=reason)
    if "name" in changed:
        customer.name_pinyin, customer.name_initials = pinyin_keys(changed["name"][1])
    if changed:
        customer.version += 1
        customer.updated_at = utcnow()
    touched = [f"customer.{k}" for k in sorted(changed)]
    if basis is not None:  # a consent given with the change (e.g. the separate consent for a level-1 value)
        consent.grant(session, ctx, customer_id=customer.id, vault=vault, basis=basis, audit=False)
        touched += consent.GRANT_FIELDS + (consent.GUARDIAN_FIELDS if basis.guardian_name else [])
    ctx.audit(session, action="customer.update", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=touched, reason=reason)
    if changed:
        events.stage(session, "customer.updated", customer_id=customer.id, customer_no=customer.archive_no,
                     fields=sorted(changed))
    return customer


def archive(session: Session, ctx: Ctx, *, archive_no: str, reason: str | None) -> Customer:
    """Archive (归档) a customer: needs `delete` at every level the archive holds data of."""
    customer = _load(session, ctx, archive_no, for_update=True)
    reason = _reason(reason)
    minor = minor_of(customer)
    held = [s for s in ctx.catalog.of("customer") if getattr(customer, s.name) is not None]
    policy.require_fields(ctx.principal, "delete", held, minor=minor)
    if customer.status == "archived":
        raise Conflict("该档案已归档", code="already_archived")
    vault = vault_of(ctx, customer)
    _history(session, vault, ctx=ctx, customer_id=customer.id, spec=ctx.catalog.get("customer", "status"),
             record_id=customer.id, op="update", old=customer.status, new="archived", reason=reason)
    customer.status, customer.updated_at, customer.version = "archived", utcnow(), customer.version + 1
    ctx.audit(session, action="customer.archive", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=["customer.status"], reason=reason)
    return customer


def _children_shown(session: Session, ctx: Ctx, customer: Any, vault: Vault, minor: bool) -> dict[str, list[dict]]:
    out = {}
    for entity, (model, attr) in CHILDREN.items():
        if not getattr(customer, f"has_{model.__tablename__}", True):  # row_by_no said: none
            out[attr] = []
            continue
        out[attr] = [{"id": rec.id, **present(ctx.principal, ctx.catalog, entity, rec, vault, minor=minor).as_dict()}
                     for rec in repo.child_rows(session, model, customer.id)]
    return out


def _read_keys(ctx: Ctx, minor: bool, entities: tuple[str, ...]) -> list[str]:
    """The field keys a read of an archive touches (customer fields above level 3, and the child records' shown
    fields), for its audit entry; fixed per principal, catalogue, minor flag and which child records exist."""
    key = ("read_keys", ctx.principal, minor, entities)
    keys = ctx.catalog.memo.get(key)
    if keys is None:
        touched = {f"customer.{k}" for k in read_fields(ctx.principal, ctx.catalog, "customer", minor=minor)
                   if ctx.catalog.get("customer", k).level < 3 or minor}
        for entity in entities:
            touched.update(f"{entity}.{n}" for n in read_fields(ctx.principal, ctx.catalog, entity, minor=minor))
        keys = ctx.catalog.memo[key] = sorted(touched)
    return keys


def get(session: Session, ctx: Ctx, *, archive_no: str) -> dict[str, Any]:
    """An archive with its child records, as the caller may see it; the read is audited."""
    customer = repo.row_by_no(session, ctx.principal, archive_no)
    if customer is None:
        raise NotFound()
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    shown = present(ctx.principal, ctx.catalog, "customer", customer, vault, minor=minor)
    body = {**shown.as_dict(), **_children_shown(session, ctx, customer, vault, minor), "version": customer.version,
            "created_at": customer.created_at.isoformat(), "updated_at": customer.updated_at.isoformat(),
            "minor": minor}
    users, depts = ctx.names(session)
    body["owner_name"], body["department_name"] = users.get(customer.owner_id), depts.get(customer.department_id)
    touched = _read_keys(ctx, minor, tuple(entity for entity, (_m, attr) in CHILDREN.items() if body[attr]))
    ctx.audit(session, action="customer.read", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=touched, detail={"masked": shown.masked})
    return body


def list_(session: Session, ctx: Ctx, *, q: str | None = None, filters: dict[str, Any] | None = None,
          sort: str = "new", cursor: str | None = None, limit: int = 20, where: list | None = None) -> dict[str, Any]:
    """A page of customers in the caller's scope, shown per the caller's rights; audited. `where`: extra conditions."""
    limit = max(1, min(int(limit or 20), 100))
    where = conditions(session, ctx, q) + filter_conditions(session, ctx, filters or {}) + list(where or [])
    result = repo.page(session, ctx.principal, where=where, sort=sort, cursor=cursor, limit=limit)
    users, depts = ctx.names(session)
    items = []
    for c in result.rows:
        minor = minor_of(c)
        shown = present(ctx.principal, ctx.catalog, "customer", c, vault_of(ctx, c), minor=minor, only=LIST_FIELDS)
        items.append({**shown.as_dict(), "owner_name": users.get(c.owner_id),
                      "department_name": depts.get(c.department_id)})
    if items:
        fields = sorted({f"customer.{k}" for it in items for k in it if not k.startswith("_")
                         and f"customer.{k}" in ctx.catalog.fields and ctx.catalog.get("customer", k).level < 3})
        ctx.audit(session, action="customer.list", target_type="customer", fields=fields,
                  detail={"records": [c.archive_no for c in result.rows], "q": bool(q)})
    return {"items": items, "next_cursor": result.next_cursor}


def reveal(session: Session, ctx: Ctx, *, archive_no: str, fields: list[str], reason: str | None,
           entity: str = "customer", record_id: str | None = None) -> dict[str, Any]:
    """Show chosen fields in plain text: needs `reveal` at their level and a stated reason; audited."""
    customer = _load(session, ctx, archive_no)
    reason = _reason(reason)
    if entity == "customer":
        record = customer
    elif entity in CHILDREN:
        record = next((r for r in getattr(customer, CHILDREN[entity][1]) if r.id == record_id), None)
        if record is None:
            raise NotFound()
    else:
        raise ValidationFailed([FieldError("entity", "unknown_field", "未知的记录类型")])
    return reveal_record(session, ctx, customer=customer, entity=entity, record=record, fields=fields, reason=reason)


def reveal_record(session: Session, ctx: Ctx, *, customer: Customer, entity: str, record: Any, fields: list[str],
                  reason: str | None) -> dict[str, Any]:
    """Plain values of chosen fields of any record held under a customer (already loaded in scope); audited.

    Shared by the archive and every domain holding customer records (orders, payments…).
    """
    reason = _reason(reason)
    unknown = [f for f in fields if f"{entity}.{f}" not in ctx.catalog.fields]
    if unknown or not fields:
        raise ValidationFailed([FieldError("fields", "unknown_field", "未知字段：" + "、".join(unknown or ["(空)"]))])
    minor = minor_of(customer)
    specs = [ctx.catalog.get(entity, f) for f in fields]
    hidden = [s for s in specs if policy.display_state(ctx.principal, s, minor=minor) == "hidden"]
    if hidden:
        raise Forbidden("无权查看以下字段：" + "、".join(s.label for s in hidden), code="forbidden_view")
    policy.require_fields(ctx.principal, "reveal", specs, minor=minor)
    if any(policy.effective_level(s, minor=minor) == 1 for s in specs):
        consent.require_sensitive(session, customer.id)
    shown = present(ctx.principal, ctx.catalog, entity, record, vault_of(ctx, customer), minor=minor,
                    revealed=frozenset(fields), only=fields)
    ctx.audit(session, action="customer.reveal", target_type=entity, target_id=record.id,
              customer_no=customer.archive_no, fields=[f"{entity}.{f}" for f in fields], reason=reason)
    return {"values": shown.values, "expires_in": ctx.kehu.settings.reveal_seconds}


def history(session: Session, ctx: Ctx, *, archive_no: str, before: int | None = None,
            limit: int = 50) -> dict[str, Any]:
    """Change history (who, when, field, old → new, why), each value shown per the caller's rights."""
    customer = _load(session, ctx, archive_no)
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    rows = repo.history(session, customer.id, before_seq=before, limit=max(1, min(limit, 200)))
    users, depts = ctx.names(session)
    items = []
    for r in rows:
        if r.field == CREATED:
            items.append({"seq": r.seq, "entity": r.entity, "record_id": r.record_id, "field": r.field,
                          "label": "建立档案", "op": r.op, "changed_at": r.changed_at.isoformat(),
                          "changed_by": users.get(r.changed_by), "reason": r.reason, "state": "plain",
                          "old_value": None, "new_value": None})
            continue
        spec = ctx.catalog.fields.get(f"{r.entity}.{r.field}")
        if spec is None:
            continue
        state = policy.display_state(ctx.principal, spec, minor=minor)
        item = {"seq": r.seq, "entity": r.entity, "record_id": r.record_id, "field": r.field, "label": spec.label,
                "op": r.op, "changed_at": r.changed_at.isoformat(), "changed_by": users.get(r.changed_by),
                "reason": r.reason, "state": state}
        for key in ("old_value", "new_value"):
            blob = getattr(r, key)
            if state == "hidden" or blob is None:
                item[key] = None
                continue
            which = key.split("_")[0]
            text = vault.open(blob, table="customer_history", field=f"{which}:{spec.key}", row_id=r.id) \
                if spec.encrypted else blob.decode()
            if state == "plain" and spec.name in ("owner_id", "department_id"):  # references shown by name
                text = (users if spec.name == "owner_id" else depts).get(text, text)
            item[key] = text if state == "plain" else mask(spec.mask if spec.mask != "none" else "all", text)
        items.append(item)
    ctx.audit(session, action="customer.history", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no, fields=sorted({f"{i['entity']}.{i['field']}" for i in items
                                                              if i["state"] != "hidden" and i["field"] != CREATED}))
    nxt = rows[-1].seq if len(rows) == max(1, min(limit, 200)) else None
    return {"items": items, "next_before": nxt}
