"""Bulk creation of archives (demo loader, benchmarks, CSV import).

Each row goes through exactly the checks of `service.create` — catalogue validation, archive rules,
references, field rights, data scope and the exact-duplicate check (against the store and against
earlier rows of the same call) — and is stored exactly as `service.create` stores it: its own data
key, sealed values, blind indexes, pinyin keys, an archive number and one creation row in the history.
The difference is the plumbing: numbers are allocated in blocks, duplicates looked up per batch,
rows written with executemany, and the whole call is ONE audit entry. An invalid row is reported
(row index, field, code, message) and not written at all; valid rows are written. Like every
service this never commits: the caller owns the transaction.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.access.models import User
from kehu.catalog.validation import clean
from kehu.catalog.vault import Vault, to_text
from kehu.consent import basis as consent_basis
from kehu.customers import rules
from kehu.customers.changes import creation_row
from kehu.customers.models import ArchiveSequence, Contact, Customer, History
from kehu.customers.service import CHILDREN, _check_refs, _clean_children, _given, _require_write
from kehu.db import allocate, utcnow
from kehu.errors import FieldError, Forbidden, ValidationFailed
from kehu.kit.ids import new_id
from kehu.kit.pinyin import pinyin_keys
from kehu.kit.validate import id_birth_date
from kehu.runtime import Ctx

#: Keys of child lists in an input row (as in the API body) → catalogue entity.
CHILD_KEYS: dict[str, str] = {attr: entity for entity, (_model, attr) in CHILDREN.items()}
#: Fields checked for exact duplicates, in the order service.create checks them.
DUPLICATE_FIELDS = ("id_number", "mobile", "email", "uscc")
_IN_CHUNK = 500  # bound parameters per IN (...) lookup


@dataclass(frozen=True)
class RowError:
    """One problem of one input row (`row` is its 0-based position; `field` None for the whole row)."""

    row: int
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"row": self.row, "field": self.field, "code": self.code, "message": self.message}


@dataclass
class BulkResult:
    """Outcome of one bulk call: what was written and the per-row error report."""

    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    archive_nos: dict[int, str] = field(default_factory=dict)  # row index → archive number
    first_no: str | None = None
    last_no: str | None = None

    @property
    def rejected(self) -> int:
        """Number of rows not written."""
        return len({e.row for e in self.errors})


def split(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """An input row → (customer data, children by entity), the arguments of service.create (its consent apart)."""
    data = {k: v for k, v in row.items() if k not in CHILD_KEYS and k != "consent"}
    children = {CHILD_KEYS[k]: v for k, v in row.items() if k in CHILD_KEYS and v}
    return data, children


class _Rec:
    """A plain record for Vault.write: attributes become the column values of one INSERT row."""

    def __init__(self, table: str, **values: Any):
        self.__dict__.update(values)
        self.__dict__["__tablename__"] = table

    def values(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        del out["__tablename__"]
        return out


@dataclass
class _Prepared:
    row: int
    values: dict[str, Any]
    kids: dict[str, list[dict[str, Any]]]
    minor: bool
    basis: "consent_basis.Basis | None" = None  # the legal basis to record with the archive (None: none recorded)
    keys: list[tuple[str, Any]] = field(default_factory=list)  # (field, blind digest or uscc) to dedupe on
    contact_keys: list[tuple[str, Any]] = field(default_factory=list)  # its contacts' mobile/e-mail digests
    sealed: "_Sealed | None" = None  # the stored form, when sealed ahead (by a worker process)


@dataclass
class _Sealed:
    """The rows to insert for one new archive, values sealed; only the archive number is left to assign."""

    customer: dict[str, Any]
    history: dict[str, Any]
    kids: list[tuple[str, dict[str, Any]]]  # (entity, row)
    touched: list[str]


def _columns(model: type) -> list:
    """The columns an INSERT supplies (all but a database-generated autoincrement key)."""
    table = model.__table__
    return [c for c in table.columns if c is not table.autoincrement_column]


def _template(model: type) -> dict[str, Any]:
    """Every column of a table as None, or its scalar default: the same row the ORM would insert."""
    out = {}
    for col in _columns(model):
        default = col.default.arg if col.default is not None and col.default.is_scalar else None
        out[col.key] = default
    return out


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def allocate_numbers(session: Session, year: int, count: int) -> int:
    """Reserve `count` consecutive archive numbers of a year in one locked update; the first."""
    return allocate(session, ArchiveSequence, year, count)


def _memo(proc):
    """A bind processor that reuses its last result for the same object (one `now` per batch)."""
    if proc is None:
        return None
    last: list = [_memo, None]

    def run(value):
        if value is not last[0]:
            last[0], last[1] = value, proc(value)
        return last[1]

    return run


class _Insert:
    """One table's INSERT, compiled once and run with the driver's executemany.

    The columns' own bind processors (UTC datetimes, dates, binaries…) are applied exactly as
    SQLAlchemy applies them, but once per value instead of through the per-statement machinery,
    which costs more than the database itself on wide executemany batches.
    """

    def __init__(self, session: Session, model: type):
        conn = session.connection()
        dialect = conn.dialect
        cols = _columns(model)
        compiled = insert(model.__table__).compile(dialect=dialect, column_keys=[c.key for c in cols])
        procs = {c.key: _memo(c.type._cached_bind_processor(dialect)) for c in cols}
        self.sql = compiled.string
        self.positional = compiled.positional
        order = list(compiled.positiontup) if compiled.positional else [c.key for c in cols]
        self.pairs = [(key, procs[key]) for key in order]

    def __call__(self, session: Session, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        pairs = self.pairs
        if self.positional:
            params: list = [tuple([proc(row[k]) if proc else row[k] for k, proc in pairs]) for row in rows]
        else:
            params = [{k: proc(row[k]) if proc else row[k] for k, proc in pairs} for row in rows]
        session.connection().exec_driver_sql(self.sql, params)


class Bulk:
    """The checks and writes of `create_many`, reusable over several batches of one session.

    Rows accepted by earlier batches count for the in-batch duplicate check of later ones, also in a
    dry run (where nothing is written). The caller audits (create_many does).
    """

    def __init__(self, session: Session, ctx: Ctx, reason: str | None, *, source: str = "bulk"):
        self.session, self.ctx, self.reason = session, ctx, reason
        self.source = source  # where consent records written here say they came from (e.g. import:<job>)
        self.catalog, self.crypto = ctx.catalog, ctx.kehu.crypto
        self.result = BulkResult()
        self.seen: dict[tuple[str, Any], int] = {}  # dedupe key → row that holds it (this call)
        self.alias: dict[tuple[str, bytes], bytes] = {}  # old-key digest → active digest (blind-index rotation)
        self.owners: dict[str, Any] = {}  # owner id → User (kept referenced: identity map is weak)
        self.refs: dict[tuple[Any, Any], list[FieldError]] = {}
        self.touched: set[str] = set()
        models = (Customer, History, *(m for m, _a in CHILDREN.values()))
        self.templates = {m: _template(m) for m in models}
        self.models = models
        self._inserts: dict[type, _Insert] = {}
        self.pinyin: dict[str, tuple[str, str]] = {}  # this call only: no plaintext outlives the call
        self.where = lambda row: f"本批第{row + 1}条记录"  # how a message names an earlier row

    def submit(self, indexed: list[tuple[int, Any]], *, dry_run: bool = False) -> None:
        """Check (and unless `dry_run`, write) one batch of (index, input row); results go to `self.result`."""
        prepared = [p for p in (self.prepare(i, row) for i, row in indexed) if p is not None]
        accepted = self.dedupe(prepared)
        if dry_run:
            for p in accepted:
                self.result.archive_nos[p.row] = ""
            self.result.created += len(accepted)
        else:
            self.write(accepted)

    def submit_prepared(self, prepared: list[_Prepared], errors: list[RowError]) -> None:
        """Write rows checked and sealed elsewhere (worker processes): duplicate check against the store and
        the earlier rows here, archive numbers, INSERTs. `errors` are the rows refused by those checks."""
        self.result.errors += errors
        self.write(self.dedupe(prepared))

    def audit(self) -> None:
        """One audit entry for everything written by this object: field keys, counts, first/last number."""
        res = self.result
        self.ctx.audit(self.session, action="customer.bulk_create", target_type="customer",
                       fields=sorted(self.touched), reason=self.reason,
                       detail={"count": res.created, "rejected": res.rejected, "first_no": res.first_no,
                               "last_no": res.last_no})

    def fail(self, row: int, errors: list[FieldError]) -> None:
        self.result.errors += [RowError(row, e.field, e.code, e.message) for e in errors]

    # checks, in the order of service.create --------------------------------------------------
    def prepare(self, i: int, row: Any) -> _Prepared | None:
        """The checks of service.create for one row; a row's `consent` is a parsed `consent.basis.Basis`."""
        ctx = self.ctx
        if not isinstance(row, dict):
            self.fail(i, [FieldError("row", "invalid_type", "记录格式错误")])
            return None
        data, children = split(row)
        basis = row.get("consent")
        bad = [k for k, v in children.items() if not isinstance(v, list) or not all(isinstance(x, dict) for x in v)]
        if bad:
            self.fail(i, [FieldError(CHILDREN[k][1], "invalid_type", "子记录格式错误") for k in bad])
            return None
        errors: list[FieldError] = []
        try:
            values = clean(self.catalog, "customer", data, required=("kind", "name"))
        except ValidationFailed as exc:
            values, errors = {}, list(exc.errors)
        kids, kid_errors = _clean_children(ctx, children)
        errors += kid_errors
        if not errors:
            values.setdefault("owner_id", None)
            values.setdefault("department_id", None)
            values["owner_id"] = values["owner_id"] or ctx.principal.user_id
            if values["department_id"] is None:
                owner = self.owner(values["owner_id"])
                values["department_id"] = owner.department_id if owner else ctx.principal.department_id
            if values.get("id_number") and not values.get("birth_date"):
                values["birth_date"] = id_birth_date(values["id_number"])
            values.setdefault("importance", "normal")
            values.setdefault("status", "active")
            present_ = {k: v is not None for k, v in values.items()}
            errors += rules.check(values, present_) + self.check_refs(values)
            if basis is not None:  # level-1 values need the separate consent, a minor a guardian's
                errors += consent_basis.check(basis, given=_given(ctx, values, kids, set()),
                                              minor=policy.is_minor(values["kind"], values.get("birth_date")))
        if errors:
            self.fail(i, errors)
            return None
        minor = policy.is_minor(values["kind"], values.get("birth_date"))
        given = [k for k, v in values.items() if v is not None]
        try:
            _require_write(ctx, "create", "customer", given, minor=minor)
            for entity, items in kids.items():
                _require_write(ctx, "create", entity, sorted({k for it in items for k, v in it.items() if v is not None}),
                               minor=minor)
            if not policy.in_scope(ctx.principal, owner_id=values["owner_id"], department_id=values["department_id"],
                                   importance=values["importance"]):
                raise Forbidden("不能将客户分配到您的权限范围之外", code="owner_out_of_scope")
        except Forbidden as exc:
            self.fail(i, [FieldError(None, exc.code, exc.message)])  # type: ignore[arg-type]
            return None
        p = _Prepared(i, values, kids, minor, basis)
        for name in DUPLICATE_FIELDS:
            value = values.get(name)
            if value is not None:
                spec = self.catalog.get("customer", name)
                if spec.blind_index:
                    active, *older = self.crypto.blind_indexes(spec.blind_index, to_text(value))
                    self.alias.update({(name, d): active for d in older})
                    p.keys.append((name, active))
                else:
                    p.keys.append((name, value))
        for item in kids.get("contact", ()):
            for name in ("mobile", "email"):
                if item.get(name) is not None:
                    spec = self.catalog.get("contact", name)
                    p.contact_keys.append((name, self.crypto.blind_indexes(spec.blind_index, to_text(item[name]))[0]))
        return p

    def owner(self, user_id: str):
        if user_id not in self.owners:
            self.owners[user_id] = self.session.get(User, user_id)
        return self.owners[user_id]

    def check_refs(self, values: dict[str, Any]) -> list[FieldError]:
        key = (values.get("owner_id"), values.get("department_id"))
        if key not in self.refs:
            self.refs[key] = _check_refs(self.session, self.ctx, values)
            if key[0] is not None:
                self.owner(key[0])
        return list(self.refs[key])

    # duplicates ------------------------------------------------------------------------------
    def existing(self, prepared: list[_Prepared]) -> dict[tuple[str, Any], list[tuple]]:
        """Archives already holding one of the keys (customer field, or a contact's for mobile/e-mail)."""
        wanted: dict[str, set] = {}
        for p in prepared:
            for name, key in p.keys:
                wanted.setdefault(name, set()).add(key)
        for name, digest in self.alias:
            wanted.setdefault(name, set()).add(digest)
        found: dict[tuple[str, Any], list[tuple]] = {}
        cols = (Customer.id, Customer.archive_no, Customer.owner_id, Customer.department_id, Customer.importance)
        for name, keys in wanted.items():
            own = Customer.uscc if name == "uscc" else getattr(Customer, f"{name}_bi")
            contact = getattr(Contact, f"{name}_bi", None)
            keys_ = sorted(keys)
            for start in range(0, len(keys_), _IN_CHUNK):
                part = keys_[start:start + _IN_CHUNK]
                stmts = [select(own, *cols).where(own.in_(part))]
                if contact is not None:
                    stmts.append(select(contact, *cols).join(Contact, Contact.customer_id == Customer.id)
                                 .where(contact.in_(part)))
                for stmt in stmts:
                    for key, *hit in self.session.execute(stmt):
                        found.setdefault((name, self.alias.get((name, key), key)), []).append(tuple(hit))
        return found

    def dedupe(self, prepared: list[_Prepared]) -> list[_Prepared]:
        """Rows free of exact duplicates; the first offending field of each other row is reported."""
        found = self.existing(prepared) if prepared else {}
        accepted = []
        for p in prepared:
            error = None
            for name, key in p.keys:
                label = self.catalog.get("customer", name).label
                if (name, key) in self.seen:
                    error = FieldError(name, "duplicate_in_batch",
                                       f"与{self.where(self.seen[(name, key)])}的{label}相同")
                elif hits := found.get((name, key)):
                    visible = [h for h in hits if policy.in_scope(self.ctx.principal, owner_id=h[2],
                                                                  department_id=h[3], importance=h[4])]
                    error = FieldError(name, "duplicate", f"已存在相同{label}的客户档案：{visible[0][1]}" if visible
                                       else f"已存在相同{label}的客户档案（不在您的权限范围内，请联系信息管理员）")
                if error:
                    break
            if error:
                self.fail(p.row, [error])
                continue
            accepted.append(p)
            for name, key in p.keys:
                self.seen[(name, key)] = p.row
            for name_key in p.contact_keys:
                self.seen.setdefault(name_key, p.row)
        return accepted

    # writing -------------------------------------------------------------------------------
    def seal(self, p: _Prepared, *, now, user_id: str | None) -> _Sealed:
        """The stored form of one checked row: data key, sealed values, blind indexes, pinyin, history row."""
        catalog = self.catalog
        cid = new_id()
        vault = Vault.new(self.crypto, customer_id=cid)
        rec = _Rec("customers", id=cid, created_at=now, updated_at=now, created_by=user_id, version=1,
                   dek=vault.wrapped, archive_no=None)
        for name, value in p.values.items():
            vault.write(rec, catalog.get("customer", name), value)
        name = p.values["name"]
        if name not in self.pinyin:
            self.pinyin[name] = pinyin_keys(name)
        rec.name_pinyin, rec.name_initials = self.pinyin[name]
        touched = [f"customer.{k}" for k, v in p.values.items() if v is not None]
        kids = []
        for entity, items in p.kids.items():
            model, _attr = CHILDREN[entity]
            for item in items:
                kid = _Rec(model.__tablename__, id=new_id(), customer_id=cid)
                for name, value in item.items():
                    vault.write(kid, catalog.get(entity, name), value)
                kids.append((entity, self.row(model, kid)))
                touched += [f"{entity}.{name}" for name, value in item.items() if value is not None]
        return _Sealed(self.row(Customer, rec), creation_row(customer_id=cid, reason=self.reason, changed_by=user_id,
                                                              changed_at=now), kids, touched)

    def write(self, accepted: list[_Prepared]) -> None:
        if not accepted:
            return
        now = utcnow()
        user_id = self.ctx.principal.user_id
        first = allocate_numbers(self.session, now.year, len(accepted))
        customers, history, consents = [], [], []
        kids: dict[type, list[dict[str, Any]]] = {}
        for n, p in enumerate(accepted):
            sealed = p.sealed or self.seal(p, now=now, user_id=user_id)
            archive_no = f"KH{now.year}{first + n:07d}"
            sealed.customer["archive_no"] = archive_no
            customers.append(sealed.customer)
            history.append(sealed.history)
            for entity, row in sealed.kids:
                kids.setdefault(CHILDREN[entity][0], []).append(row)
            self.touched.update(sealed.touched)
            self.result.archive_nos[p.row] = archive_no
            if p.basis is not None:
                consents.append((p.basis, sealed.customer["id"], sealed.customer["dek"], archive_no))
        self.session.flush()
        if not self._inserts:
            self._inserts = {m: _Insert(self.session, m) for m in self.models}
        self._inserts[Customer](self.session, customers)
        for model, rows in kids.items():
            self._inserts[model](self.session, rows)
        self._inserts[History](self.session, history)
        self.record_consents(consents)
        res = self.result
        res.created += len(accepted)
        res.first_no = res.first_no or f"KH{now.year}{first:07d}"
        res.last_no = f"KH{now.year}{first + len(accepted) - 1:07d}"

    def record_consents(self, granted: list[tuple[Any, str, bytes, str]]) -> None:
        """Consent records of archives just written ((basis, customer id, wrapped key, archive no) each): one
        `record_many` per distinct basis; a basis naming a guardian is one customer's (`grant`, name sealed)."""
        by_basis: dict[Any, list[str]] = {}
        for basis, cid, dek, archive_no in granted:
            basis = basis if basis.source else consent_basis.with_source(basis, self.source)
            if basis.guardian_name:
                consent_basis.grant(self.session, self.ctx, customer_id=cid, customer_no=archive_no, basis=basis,
                                    vault=Vault(self.crypto, customer_id=cid, wrapped_dek=dek))
            else:
                by_basis.setdefault(basis, []).append(cid)
        for basis, ids in by_basis.items():
            consent_basis.record_many(self.session, self.ctx, ids, basis)

    def row(self, model: type, rec: _Rec) -> dict[str, Any]:
        out = {**self.templates[model], **rec.values()}
        for key, default in self.templates[model].items():
            if out[key] is None and default is not None:
                out[key] = default
        return out


def create_many(session: Session, ctx: Ctx, rows: Iterable[dict[str, Any]], *, reason: str | None = None,
                batch_size: int = 1000, dry_run: bool = False, consent: dict[str, Any] | None = None,
                source: str = "bulk") -> BulkResult:
    """Create many archives as `service.create` would, one audit entry for the call; bad rows are reported.

    `rows` are input rows as in the API body (customer fields plus optional `contacts`, `addresses`,
    `anniversaries`, `relations` lists and a `consent`). `consent` is the legal basis of rows that carry
    none (e.g. the declaration of a whole file); a row's consent is checked like `service.create` checks it
    (a level-1 value needs the separate sensitive consent, a minor a guardian's) and recorded with the
    archive (`kehu.consent.basis.record_many`; `grant` for a row naming a guardian), marked `source`.
    Rows without any consent get no consent record (internal loaders only). `dry_run`: every check,
    nothing written, nothing audited. Never commits.
    """
    if not ctx.principal.sees_customers:
        raise Forbidden()
    bulk = Bulk(session, ctx, reason, source=source)
    bases: dict[str, Any] = {}  # consent input (as JSON) → (Basis | None, errors)

    def with_consent(numbered):
        for i, row in numbered:
            if isinstance(row, dict) and ("consent" in row or consent is not None):
                raw = row.get("consent", consent)
                key = json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)
                if key not in bases:
                    bases[key] = consent_basis.parse(session, raw)
                basis, errors = bases[key]
                if errors:
                    bulk.fail(i, errors)
                    continue
                row = {**row, "consent": basis}
            yield i, row

    submitted = 0
    for chunk in _batched(with_consent(enumerate(rows)), max(1, batch_size)):
        submitted += len(chunk)
        bulk.submit(chunk, dry_run=dry_run)
    if submitted and not dry_run:
        bulk.audit()
    return bulk.result
