"""The legal basis of a collection (PIPL): parse and check a consent, record it, and answer "is this allowed?".

Used by `customers.service` (create/update/reveal), the intake review and — through `allows` /
`allowed` — by every feature that processes customer data for a purpose (segments, exports,
marketing). No HTTP; never commits. The state table is written in the same transaction as the
record, so a withdrawal takes effect for the very next call.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.catalog.spec import CATEGORIES, FieldSpec
from kehu.catalog.vault import Vault
from kehu.consent.models import (GUARDIAN_RELATIONS, SENSITIVE, ConsentPurpose, ConsentRecord, ConsentState,
                                 PrivacyNotice)
from kehu.customers.models import CHANNELS
from kehu.db import utcnow
from kehu.errors import FieldError, Forbidden
from kehu.kit.ids import new_id
from kehu.kit.validate import normalize_text
from kehu.runtime import Ctx

_IN_CHUNK = 500
#: A guardian relation may also be given by its Chinese name (a file column, a form), each part of 祖父母/外祖父母 too.
_RELATION_NAMES = {part: code for code, name in GUARDIAN_RELATIONS for part in (name, *name.split("/"))}
#: Catalogue keys a grant writes (for the audit entry of the write it is part of).
GRANT_FIELDS = ["consent.action", "consent.purposes", "consent.scope", "consent.sensitive", "consent.channel",
                "consent.notice_version"]
GUARDIAN_FIELDS = ["consent.guardian_name", "consent.guardian_relation"]


@dataclass(frozen=True)
class Basis:
    """A checked consent: purposes, scope (field categories), channel, notice version, sensitive flag, guardian."""

    purposes: tuple[str, ...]
    channel: str
    notice_version: str
    sensitive: bool = False
    scope: tuple[str, ...] = ()
    guardian_name: str | None = None
    guardian_relation: str | None = None
    note: str | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Input form (what `parse` accepts): for storing a pending submission's consent."""
        return {"purposes": list(self.purposes), "channel": self.channel, "notice_version": self.notice_version,
                "sensitive": self.sensitive, "scope": list(self.scope), "guardian_name": self.guardian_name,
                "guardian_relation": self.guardian_relation, "note": self.note}


def current_notice(session: Session) -> PrivacyNotice | None:
    """The privacy notice in force: the latest published version."""
    return session.execute(select(PrivacyNotice).order_by(PrivacyNotice.published_at.desc(),
                                                          PrivacyNotice.id.desc()).limit(1)).scalar_one_or_none()


def active_purposes(session: Session) -> list[ConsentPurpose]:
    """Purposes a customer can consent to now, in display order."""
    return list(session.execute(select(ConsentPurpose).where(ConsentPurpose.active)
                                .order_by(ConsentPurpose.position, ConsentPurpose.code)).scalars())


def _texts(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, (list, tuple)):
        return ["\x00"]  # a wrong type: reported as an unknown value
    return [normalize_text(x) for x in raw if isinstance(x, str) and normalize_text(x)]


def _truthy(raw: Any) -> bool:
    return raw is True or (isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on", "是"))


def parse(session: Session, raw: dict[str, Any] | None, *, default_channel: str | None = None,
          allowed_purposes: Iterable[str] | None = None) -> tuple[Basis | None, list[FieldError]]:
    """A consent given as input ({purposes, channel, notice_version, sensitive, scope, guardian_*}) → Basis.

    Errors are named `consent.<part>`; nothing is written here.
    """
    if isinstance(raw, Basis):  # already parsed and checked (e.g. an import job's declaration)
        return raw, []
    errors: list[FieldError] = []
    if raw is None or not isinstance(raw, dict):
        return None, [FieldError("consent", "consent_required",
                                 "收集客户信息须记录告知同意（目的、渠道、隐私政策版本）")]
    known = {p.code for p in active_purposes(session)}
    if allowed_purposes is not None:
        known &= set(allowed_purposes)
    purposes = list(dict.fromkeys(_texts(raw.get("purposes"))))
    if not purposes:
        errors.append(FieldError("consent.purposes", "purpose_required", "请至少选择一项处理目的"))
    elif bad := [p for p in purposes if p not in known]:
        errors.append(FieldError("consent.purposes", "unknown_purpose", "未知或不可用的处理目的：" + "、".join(bad)))
    channel = normalize_text(raw.get("channel") or default_channel or "")
    if not channel:
        errors.append(FieldError("consent.channel", "channel_required", "请选择收集渠道"))
    elif channel not in dict(CHANNELS):
        errors.append(FieldError("consent.channel", "invalid_choice", "可选值：" + "、".join(dict(CHANNELS).values())))
    notice = current_notice(session)
    version = normalize_text(raw.get("notice_version") or (notice.version if notice else ""))
    if not version:
        errors.append(FieldError("consent.notice_version", "notice_missing", "尚未发布隐私政策，不能收集客户信息"))
    elif session.execute(select(PrivacyNotice.id).where(PrivacyNotice.version == version)).first() is None:
        errors.append(FieldError("consent.notice_version", "unknown_notice", f"隐私政策版本不存在：{version[:20]}"))
    scope = list(dict.fromkeys(_texts(raw.get("scope"))))
    if bad := [c for c in scope if c not in CATEGORIES]:
        errors.append(FieldError("consent.scope", "unknown_category", "未知的信息类别：" + "、".join(bad)))
    guardian, relation, guardian_errors = guardian_of(raw.get("guardian_name"), raw.get("guardian_relation"))
    errors += guardian_errors
    note = normalize_text(raw.get("note") or "") or None
    if note and len(note) > 500:
        errors.append(FieldError("consent.note", "too_long", "说明不能超过500个字符"))
    if errors:
        return None, errors
    return Basis(purposes=tuple(purposes), channel=channel, notice_version=version,
                 sensitive=_truthy(raw.get("sensitive")), scope=tuple(scope), guardian_name=guardian,
                 guardian_relation=relation, note=note), []


def guardian_of(name: Any, relation: Any) -> tuple[str | None, str | None, list[FieldError]]:
    """A guardian's name and relation as given (the relation by code or by its Chinese name) → (name, code, errors)."""
    errors = []
    name = normalize_text(name) or None if isinstance(name, str) else None
    relation = normalize_text(relation) or None if isinstance(relation, str) else None
    if name and len(name) > 60:
        errors.append(FieldError("consent.guardian_name", "too_long", "监护人姓名不能超过60个字符"))
    if relation and relation not in dict(GUARDIAN_RELATIONS):
        relation = _RELATION_NAMES.get(relation, relation)
        if relation not in dict(GUARDIAN_RELATIONS):
            errors.append(FieldError("consent.guardian_relation", "invalid_choice",
                                     "可选值：" + "、".join(dict(GUARDIAN_RELATIONS).values())))
    return name, relation, errors


def sensitive_fields(given: Iterable[tuple[str, FieldSpec]], *, minor: bool) -> list[tuple[str, FieldSpec]]:
    """The (input name, spec) pairs whose effective level is 1 (a minor's personal data counts)."""
    return [(name, spec) for name, spec in given if policy.effective_level(spec, minor=minor) == 1]


def check(basis: Basis | None, *, given: list[tuple[str, FieldSpec]], minor: bool,
          sensitive_in_force: bool = False, guardian_in_force: bool = False) -> list[FieldError]:
    """The collection rules: level-1 values need the separate sensitive consent; a minor needs a guardian's.

    `given` lists the (input name, spec) of the values being set. Errors name the refused input fields.
    """
    errors: list[FieldError] = []
    has_sensitive = sensitive_in_force or (basis is not None and basis.sensitive)
    for name, spec in sensitive_fields(given, minor=minor):
        if not has_sensitive:
            errors.append(FieldError(name, "sensitive_consent_required",
                                     f"{spec.label}：属于敏感个人信息（一级），须取得客户的单独同意"))
    if basis is not None and basis.scope:
        for name, spec in given:
            if spec.category not in basis.scope and spec.category != "management":  # management data is ours
                errors.append(FieldError(name, "outside_consent_scope",
                                         f"{spec.label}：不在客户同意的信息范围内"))
    if minor and not guardian_in_force and not (basis and basis.guardian_name and basis.guardian_relation):
        errors.append(FieldError("consent.guardian_name", "guardian_consent_required",
                                 "不满十四周岁的未成年人，须取得其父母或其他监护人的同意（请填写监护人姓名及关系）"))
    return errors


def in_force(session: Session, customer_id: str, item: str) -> bool | None:
    """True/False when a grant/withdrawal of the item is recorded; None when nothing is."""
    row = session.execute(select(ConsentState.granted).where(ConsentState.customer_id == customer_id,
                                                             ConsentState.item == item)).first()
    return None if row is None else bool(row[0])


def allows(session: Session, customer_id: str, purpose: str) -> bool:
    """Whether the customer's consent covers this purpose now (withdrawals count at once)."""
    return in_force(session, customer_id, purpose) is True


def allowed(session: Session, customer_ids: Iterable[str], purpose: str) -> set[str]:
    """The subset of customers whose consent covers this purpose now (the batch form of `allows`)."""
    ids = list(dict.fromkeys(customer_ids))
    out: set[str] = set()
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i:i + _IN_CHUNK]
        out.update(session.execute(select(ConsentState.customer_id).where(
            ConsentState.item == purpose, ConsentState.granted, ConsentState.customer_id.in_(chunk))).scalars())
    return out


def guardian_recorded(session: Session, customer_id: str) -> bool:
    """Whether a guardian's consent was ever recorded for this customer."""
    return session.execute(select(ConsentRecord.id).where(
        ConsentRecord.customer_id == customer_id, ConsentRecord.action == "grant",
        ConsentRecord.guardian_relation.is_not(None)).limit(1)).first() is not None


def require_sensitive(session: Session, customer_id: str) -> None:
    """Refuse processing level-1 values once the customer has withdrawn the sensitive consent."""
    if in_force(session, customer_id, SENSITIVE) is False:
        raise Forbidden("客户已撤回对敏感个人信息的单独同意，不能查看或使用其一级信息",
                        code="sensitive_consent_withdrawn")


def _upsert_state(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or overwrite consent_state rows: one upsert statement, executed for all rows (executemany)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    table = ConsentState.__table__
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    session.execute(ins.on_conflict_do_update(
        index_elements=["customer_id", "item"],
        set_={"granted": ins.excluded.granted, "changed_at": ins.excluded.changed_at,
              "record_id": ins.excluded.record_id}), rows)


def _record_row(vault: Vault | None, ctx: Ctx, *, customer_id: str, action: str,
                purposes: tuple[str, ...], basis: Basis | None, sensitive: bool, note: str | None,
                source: str | None, now) -> ConsentRecord:
    record = ConsentRecord(id=new_id(), customer_id=customer_id, action=action, purposes=",".join(purposes) or None,
                           scope=",".join(basis.scope) if basis and basis.scope else None,
                           sensitive="yes" if sensitive else "no", channel=basis.channel if basis else None,
                           notice_version=basis.notice_version if basis else None,
                           guardian_relation=basis.guardian_relation if basis else None, note=note,
                           source=source, recorded_at=now,
                           recorded_by=ctx.principal.user_id)
    if basis is not None and basis.guardian_name and vault is not None:
        vault.write(record, ctx.catalog.get("consent", "guardian_name"), basis.guardian_name)
    return record


def grant(session: Session, ctx: Ctx, *, customer_id: str, vault: Vault, basis: Basis,
          customer_no: str | None = None, audit: bool = True) -> ConsentRecord:
    """Record a grant and bring the state in step; audited (field names only) unless part of an audited write."""
    now = utcnow()
    record = _record_row(vault, ctx, customer_id=customer_id, action="grant", purposes=basis.purposes,
                         basis=basis, sensitive=basis.sensitive, note=basis.note, source=basis.source, now=now)
    session.flush()  # a new archive's customer row first (no ORM relationship orders them)
    session.add(record)
    session.flush()
    items = list(basis.purposes) + ([SENSITIVE] if basis.sensitive else [])
    _upsert_state(session, [{"customer_id": customer_id, "item": i, "granted": True, "changed_at": now,
                             "record_id": record.id} for i in items])
    if audit:
        _audit(session, ctx, action="consent.grant", customer_id=customer_id, customer_no=customer_no,
               fields=GRANT_FIELDS + (GUARDIAN_FIELDS if basis.guardian_name else []),
               detail={"purposes": list(basis.purposes), "sensitive": basis.sensitive, "channel": basis.channel,
                       "notice_version": basis.notice_version})
    return record


def withdraw(session: Session, ctx: Ctx, *, customer_id: str, customer_no: str | None, purposes: list[str],
             sensitive: bool, note: str) -> ConsentRecord:
    """Record a withdrawal of purposes (and/or the sensitive consent); effective for the next call."""
    now = utcnow()
    record = _record_row(None, ctx, customer_id=customer_id, action="withdraw",
                         purposes=tuple(purposes), basis=None, sensitive=sensitive, note=note, source="staff", now=now)
    session.add(record)
    session.flush()
    items = list(purposes) + ([SENSITIVE] if sensitive else [])
    _upsert_state(session, [{"customer_id": customer_id, "item": i, "granted": False, "changed_at": now,
                             "record_id": record.id} for i in items])
    _audit(session, ctx, action="consent.withdraw", customer_id=customer_id, customer_no=customer_no,
           fields=["consent.purposes", "consent.sensitive", "consent.note"],
           detail={"purposes": purposes, "sensitive": sensitive})
    return record


def record_many(session: Session, ctx: Ctx, customer_ids: list[str], basis: Basis) -> int:
    """Record one basis for many new archives (bulk import): one record per customer, executemany; one audit entry.

    The guardian name is not accepted here (it belongs to one customer); bulk callers check level-1
    values with `check` before writing and pass `basis.sensitive` accordingly.
    """
    if not customer_ids:
        return 0
    if basis.guardian_name:
        raise ValueError("a guardian belongs to one customer: record it with grant()")
    now = utcnow()
    records, states = [], []
    items = list(basis.purposes) + ([SENSITIVE] if basis.sensitive else [])
    for cid in customer_ids:
        rid = new_id()
        records.append({"id": rid, "customer_id": cid, "action": "grant", "purposes": ",".join(basis.purposes),
                        "scope": ",".join(basis.scope) or None, "sensitive": "yes" if basis.sensitive else "no",
                        "channel": basis.channel, "notice_version": basis.notice_version, "guardian_name": None,
                        "guardian_relation": None, "note": basis.note, "source": basis.source or "import",
                        "recorded_at": now, "recorded_by": ctx.principal.user_id})
        states += [{"customer_id": cid, "item": i, "granted": True, "changed_at": now, "record_id": rid}
                   for i in items]
    from kehu.customers.bulk import _Insert  # the bulk path's compiled executemany (same bind processing)

    _Insert(session, ConsentRecord)(session, records)
    for i in range(0, len(customer_ids), _IN_CHUNK):  # an archive updated by an import may hold a state already
        session.connection().execute(delete(ConsentState).where(ConsentState.customer_id.in_(customer_ids[i:i + _IN_CHUNK]),
                                                   ConsentState.item.in_(items)))
    _Insert(session, ConsentState)(session, states)
    ctx.audit(session, action="consent.grant_many", target_type="consent", fields=GRANT_FIELDS,
              detail={"count": len(customer_ids), "purposes": list(basis.purposes), "sensitive": basis.sensitive,
                      "channel": basis.channel, "notice_version": basis.notice_version})
    return len(customer_ids)


def _audit(session: Session, ctx: Ctx, *, action: str, customer_id: str, customer_no: str | None,
           fields: list[str], detail: dict) -> None:
    ctx.audit(session, action=action, target_type="customer", target_id=customer_id, customer_no=customer_no,
              fields=fields, detail=detail)


def with_source(basis: Basis, source: str) -> Basis:
    """The same basis, marked with where it came from (e.g. `intake:<id>`)."""
    return replace(basis, source=source)


__all__ = ["Basis", "allowed", "allows", "check", "current_notice", "grant", "in_force", "parse", "record_many",
           "require_sensitive", "withdraw", "SENSITIVE"]
