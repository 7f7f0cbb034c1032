"""Consent of one archive (grant, withdraw, history) and the configuration (purposes, privacy notices).

No HTTP; never commits. The collection rules themselves live in `kehu.consent.basis`.
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.catalog.presenter import present
from kehu.consent import basis as rules
from kehu.consent.models import SENSITIVE, ConsentPurpose, ConsentRecord, ConsentState, PrivacyNotice
from kehu.customers import repository as customers
from kehu.customers.service import _load, _reason, minor_of, vault_of
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.kit.validate import normalize_text
from kehu.runtime import Ctx

CAPABILITY = "manage_consent"


def _specs(ctx: Ctx) -> list:
    return ctx.catalog.of("consent")


def overview(session: Session, ctx: Ctx, *, archive_no: str) -> dict[str, Any]:
    """An archive's consent: the state per purpose (and the sensitive consent) and every grant/withdrawal."""
    customer = customers.row_by_no(session, ctx.principal, archive_no)
    if customer is None:
        raise NotFound()
    minor = minor_of(customer)
    if all(policy.display_state(ctx.principal, s, minor=minor) == "hidden" for s in _specs(ctx)):
        raise NotFound()
    vault = vault_of(ctx, customer)
    records = session.execute(select(ConsentRecord).where(ConsentRecord.customer_id == customer.id)
                              .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())).scalars()
    users, _depts = ctx.names(session)
    items = [{"id": r.id, "recorded_at": r.recorded_at.isoformat(), "recorded_by": users.get(r.recorded_by),
              "source": r.source, **present(ctx.principal, ctx.catalog, "consent", r, vault, minor=minor).as_dict()}
             for r in records]
    state = {s.item: {"granted": s.granted, "changed_at": s.changed_at.isoformat()}
             for s in session.execute(select(ConsentState).where(ConsentState.customer_id == customer.id)).scalars()}
    names = {p.code: p.name for p in session.execute(select(ConsentPurpose)).scalars()}
    ctx.audit(session, action="consent.read", target_type="customer", target_id=customer.id,
              customer_no=customer.archive_no,
              fields=sorted({f"consent.{k}" for i in items for k in i if f"consent.{k}" in ctx.catalog.fields}))
    return {"archive_no": customer.archive_no, "minor": minor, "purposes": names, "state": state,
            "sensitive": state.get(SENSITIVE), "records": items,
            "can_change": policy.may(ctx.principal, "modify", ctx.catalog.get("consent", "purposes"), minor=minor)}


def grant(session: Session, ctx: Ctx, *, archive_no: str, consent: dict[str, Any]) -> dict[str, Any]:
    """Record a (further) consent for an existing archive, e.g. a new purpose or the separate sensitive consent."""
    customer = _load(session, ctx, archive_no, for_update=True)
    minor = minor_of(customer)
    policy.require_fields(ctx.principal, "modify", _specs(ctx), minor=minor)
    basis, errors = rules.parse(session, consent)
    if basis is not None and minor and not rules.guardian_recorded(session, customer.id):
        errors += rules.check(basis, given=[], minor=True)
    if errors:
        raise ValidationFailed(errors)
    record = rules.grant(session, ctx, customer_id=customer.id, vault=vault_of(ctx, customer), basis=basis,
                         customer_no=customer.archive_no)
    return {"archive_no": customer.archive_no, "record_id": record.id}


def withdraw(session: Session, ctx: Ctx, *, archive_no: str, purposes: list[str] | None, sensitive: bool,
             reason: str | None) -> dict[str, Any]:
    """Record the customer's withdrawal — of some purposes, of the sensitive consent, or of all (`purposes` None).

    Takes effect at once: `allows` answers False and level-1 reveals are refused from the next call on.
    """
    customer = _load(session, ctx, archive_no, for_update=True)
    minor = minor_of(customer)
    policy.require_fields(ctx.principal, "modify", _specs(ctx), minor=minor)
    note = _reason(reason)
    granted = set(session.execute(select(ConsentState.item).where(ConsentState.customer_id == customer.id,
                                                                  ConsentState.granted)).scalars())
    if purposes is None:  # everything
        items, sensitive = sorted(granted - {SENSITIVE}), True
    else:
        items = list(dict.fromkeys(purposes))
        unknown = [p for p in items if p not in granted or p == SENSITIVE]
        if unknown:
            raise ValidationFailed([FieldError("purposes", "not_granted",
                                               "客户未同意或已撤回以下目的：" + "、".join(unknown))])
    if not items and not sensitive:
        raise ValidationFailed([FieldError("purposes", "nothing_to_withdraw", "请选择要撤回的同意")])
    if sensitive and SENSITIVE not in granted and purposes is not None:
        raise ValidationFailed([FieldError("sensitive", "not_granted", "客户未给予或已撤回敏感个人信息单独同意")])
    record = rules.withdraw(session, ctx, customer_id=customer.id, customer_no=customer.archive_no, purposes=items,
                            sensitive=sensitive and (SENSITIVE in granted or purposes is None), note=note)
    return {"archive_no": customer.archive_no, "record_id": record.id, "withdrawn": items,
            "sensitive": sensitive}


# --- configuration: purposes and privacy notices ----------------------------------------------

def purposes(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Every purpose (active or retired), for forms and the administrator."""
    return [{"code": p.code, "name": p.name, "description": p.description, "active": p.active}
            for p in session.execute(select(ConsentPurpose).order_by(ConsentPurpose.position,
                                                                     ConsentPurpose.code)).scalars()]


def save_purpose(session: Session, ctx: Ctx, *, code: str, name: str, description: str | None = None,
                 active: bool = True) -> dict[str, Any]:
    """Add a purpose or change its name/description/active flag (codes stay: records refer to them)."""
    policy.require_capability(ctx.principal, CAPABILITY)
    code, name = normalize_text(code or ""), normalize_text(name or "")
    errors = []
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,29}", code) or code == SENSITIVE:
        errors.append(FieldError("code", "invalid_code", "目的代码应为2-30位小写字母、数字或下划线，且不能为 sensitive"))
    if not 2 <= len(name) <= 60:
        errors.append(FieldError("name", "invalid_name", "名称应为2-60个字符"))
    if errors:
        raise ValidationFailed(errors)
    row = session.get(ConsentPurpose, code)
    if row is None:
        position = len(session.execute(select(ConsentPurpose.code)).all())
        row = ConsentPurpose(code=code, position=position)
        session.add(row)
    row.name, row.description, row.active = name, normalize_text(description or "") or None, active
    ctx.audit(session, action="consent.purpose", target_type="consent_purpose", target_id=code,
              detail={"active": active})
    return {"code": code, "name": name, "active": active}


def notices(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Every published version of the privacy notice, newest first."""
    rows = session.execute(select(PrivacyNotice).order_by(PrivacyNotice.published_at.desc())).scalars()
    return [{"version": n.version, "title": n.title, "text": n.text, "published_at": n.published_at.isoformat()}
            for n in rows]


def publish_notice(session: Session, ctx: Ctx, *, version: str, title: str, text: str) -> dict[str, Any]:
    """Publish a new version of the privacy notice; versions are never edited (consents point to them)."""
    policy.require_capability(ctx.principal, CAPABILITY)
    version, title, text = normalize_text(version or ""), normalize_text(title or ""), (text or "").strip()
    errors = []
    if not re.fullmatch(r"[0-9A-Za-z.\-]{1,20}", version):
        errors.append(FieldError("version", "invalid_version", "版本号应为1-20位字母、数字、点或横线"))
    if not 2 <= len(title) <= 100:
        errors.append(FieldError("title", "invalid_title", "标题应为2-100个字符"))
    if not 20 <= len(text) <= 20000:
        errors.append(FieldError("text", "invalid_text", "正文应为20-20000个字符"))
    if errors:
        raise ValidationFailed(errors)
    if session.execute(select(PrivacyNotice.id).where(PrivacyNotice.version == version)).first():
        raise Conflict(f"隐私政策版本 {version} 已发布，版本不能修改", code="notice_exists")
    session.add(PrivacyNotice(id=new_id(), version=version, title=title, text=text, published_at=utcnow(),
                              published_by=ctx.principal.user_id))
    ctx.audit(session, action="consent.notice", target_type="privacy_notice", target_id=version)
    return {"version": version, "title": title}


def form_options(session: Session) -> dict[str, Any]:
    """What a collection form offers: active purposes and the notice in force."""
    notice = rules.current_notice(session)
    return {"purposes": [(p.code, p.name) for p in rules.active_purposes(session)],
            "notice": {"version": notice.version, "title": notice.title, "text": notice.text} if notice else None}
