"""Collection channels and submissions: register a channel, take a submission, decide it (审核).

A submission is checked like an archive entry (catalogue validation, the channel's field scope,
the consent rules of `kehu.consent.basis`) and either becomes an archive at once (a system channel
without review, acting as its responsible user) or waits, sealed, in the review queue. Only an
approval makes data effective: it creates the archive through `customers.service.create` with the
consent, as the reviewer. No HTTP; never commits.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.access import service as access
from kehu.access.models import User
from kehu.catalog.validation import check_all
from kehu.catalog.vault import Vault, to_text
from kehu.consent import basis as consent
from kehu.consent.models import ConsentRecord
from kehu.customers import service as customers
from kehu.customers.models import CHANNELS
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from kehu.intake.models import IntakeChannel, IntakeCorrection, IntakeSubmission
from kehu.kit.ids import new_id
from kehu.kit.masking import mask
from kehu.kit.validate import a_date, normalize_text
from kehu.runtime import Ctx, Kehu

TOKEN_PREFIX = "kehu_sys_"
REVIEW, MANAGE = "review_intake", "manage_intake"


def digest(token: str) -> str:
    """SHA-256 of a system token (only this is stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- channels ---------------------------------------------------------------------------------

def register(session: Session, ctx: Ctx, *, kind: str, code: str, name: str, fields: list[str],
             purposes: list[str], needs_review: bool = True, source_channel: str | None = None,
             owner_id: str | None = None) -> dict[str, Any]:
    """Register a public form or another system; a system's token is returned once and stored hashed."""
    policy.require_capability(ctx.principal, MANAGE)
    code, name = normalize_text(code or "").lower(), normalize_text(name or "")
    fields = list(dict.fromkeys(f for f in fields if f))
    purposes = list(dict.fromkeys(p for p in purposes if p))
    source_channel = source_channel or ("web" if kind == "form" else "system")
    errors = []
    if kind not in ("form", "system"):
        errors.append(FieldError("kind", "invalid_choice", "渠道类型应为 网页收集表单 或 外部系统接口"))
    if not re.fullmatch(r"[a-z0-9][a-z0-9\-]{1,39}", code):
        errors.append(FieldError("code", "invalid_code", "渠道代码应为2-40位小写字母、数字或横线"))
    elif session.execute(select(IntakeChannel.id).where(IntakeChannel.code == code)).first():
        errors.append(FieldError("code", "code_taken", "渠道代码已被使用"))
    if not 2 <= len(name) <= 60:
        errors.append(FieldError("name", "invalid_name", "名称应为2-60个字符"))
    writable = {s.name for s in ctx.catalog.writable("customer")}
    if not fields or "name" not in fields:
        errors.append(FieldError("fields", "name_required", "收集字段至少应包含“姓名/名称”"))
    elif bad := [f for f in fields if f not in writable or f in ("owner_id", "department_id")]:
        errors.append(FieldError("fields", "unknown_field", "不能收集的字段：" + "、".join(bad)))
    known = {p.code for p in consent.active_purposes(session)}
    if not purposes or [p for p in purposes if p not in known]:
        errors.append(FieldError("purposes", "unknown_purpose", "请选择有效的处理目的"))
    if source_channel not in dict(CHANNELS):
        errors.append(FieldError("source_channel", "invalid_choice", "未知的来源渠道"))
    if not needs_review:
        owner = session.get(User, owner_id) if owner_id else None
        if kind == "form":
            errors.append(FieldError("needs_review", "review_required", "公开网页表单的提交必须经过审核"))
        elif owner is None or not owner.active:
            errors.append(FieldError("owner_id", "owner_required", "免审核的系统须指定在职的负责人（以其权限建档）"))
    if errors:
        raise ValidationFailed(errors)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32) if kind == "system" else None
    channel = IntakeChannel(id=new_id(), code=code, name=name, kind=kind, source_channel=source_channel,
                            fields=",".join(fields), purposes=",".join(purposes), needs_review=needs_review,
                            owner_id=owner_id if not needs_review else None,
                            token_digest=digest(token) if token else None, active=True, created_at=utcnow(),
                            created_by=ctx.principal.user_id)
    session.add(channel)
    ctx.audit(session, action="intake.channel.register", target_type="intake_channel", target_id=channel.id,
              fields=[f"customer.{f}" for f in fields], detail={"kind": kind, "code": code,
                                                                 "needs_review": needs_review})
    return {"id": channel.id, "code": code, "kind": kind, "token": token}


def channels(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Every registered channel (never a token)."""
    policy.require_capability(ctx.principal, MANAGE)
    rows = session.execute(select(IntakeChannel).order_by(IntakeChannel.created_at)).scalars()
    return [{"id": c.id, "code": c.code, "name": c.name, "kind": c.kind, "fields": c.field_list,
             "purposes": c.purpose_list, "needs_review": c.needs_review, "active": c.active,
             "source_channel": c.source_channel} for c in rows]


def form_channel(session: Session, code: str) -> IntakeChannel:
    """The active public form with this code (404 otherwise)."""
    channel = session.execute(select(IntakeChannel).where(IntakeChannel.code == code, IntakeChannel.kind == "form",
                                                          IntakeChannel.active)).scalar_one_or_none()
    if channel is None:
        raise NotFound()
    return channel


def system_channel(session: Session, token: str | None) -> IntakeChannel:
    """The active system channel holding this token (401 otherwise)."""
    if not token or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("接入令牌无效", code="invalid_token")
    channel = session.execute(select(IntakeChannel).where(IntakeChannel.token_digest == digest(token),
                                                          IntakeChannel.kind == "system",
                                                          IntakeChannel.active)).scalar_one_or_none()
    if channel is None:
        raise Unauthenticated("接入令牌无效", code="invalid_token")
    return channel


# --- submissions ------------------------------------------------------------------------------

def _check(session: Session, kehu: Kehu, channel: IntakeChannel, data: dict[str, Any],
           raw_consent: dict[str, Any] | None) -> tuple[dict[str, Any], consent.Basis]:
    """Validated values and consent of a submission, or ValidationFailed naming every bad field."""
    catalog = kehu.catalog(session)
    allowed = set(channel.field_list)
    errors = [FieldError(k, "out_of_scope", "该渠道无权提交此字段") for k in data if k not in allowed]
    given = {k: v for k, v in data.items() if k in allowed}
    given.setdefault("kind", "individual")
    values, field_errors = check_all(catalog, "customer", given, required=("name",))
    errors += field_errors
    bad = {e.field for e in errors}
    # the channel is a fact of the collection, not an input
    raw = {**raw_consent, "channel": channel.source_channel} if isinstance(raw_consent, dict) else raw_consent
    basis, consent_errors = consent.parse(session, raw, allowed_purposes=channel.purpose_list)
    minor = policy.is_minor(values.get("kind"), values.get("birth_date"))
    errors += consent_errors + consent.check(basis, minor=minor, given=[
        (k, catalog.get("customer", k)) for k, v in values.items() if v is not None and k not in bad])
    if errors:
        raise ValidationFailed(errors)
    return {k: to_text(v) for k, v in values.items() if v is not None}, basis


def submit(session: Session, kehu: Kehu, *, channel: IntakeChannel, data: dict[str, Any],
           consent_input: dict[str, Any] | None, ip: str | None) -> dict[str, Any]:
    """Take one submission: checked in full (nothing stored when invalid), then queued or (no review) filed."""
    values, basis = _check(session, kehu, channel, data, consent_input)
    actor = f"{channel.kind}:{channel.code}"
    if not channel.needs_review:
        owner = session.get(User, channel.owner_id)
        ctx = Ctx(kehu=kehu, principal=access.build_principal(session, owner), catalog=kehu.catalog(session), ip=ip)
        customer = customers.create(session, ctx, data={**values, "source_channel": values.get(
            "source_channel", channel.source_channel), "consent": basis.as_dict()}, reason=f"渠道提交：{channel.name}")
        _mark_consent_source(session, customer.id, f"intake:{channel.code}")
        return {"status": "approved", "archive_no": customer.archive_no}
    sub = IntakeSubmission(id=new_id(), channel_id=channel.id, status="pending", received_at=utcnow(), corrections=0)
    vault = Vault.new(kehu.crypto, customer_id=sub.id)
    sub.dek = vault.wrapped
    sub.payload = vault.seal(json.dumps({"data": values, "consent": basis.as_dict()}, ensure_ascii=False),
                             table="intake_submissions", field="payload", row_id=sub.id)
    session.add(sub)
    kehu.audit.stage(session, action="intake.submit", actor_name=actor, ip=ip, target_type="intake_submission",
                     target_id=sub.id, fields=sorted(f"customer.{k}" for k in values))
    return {"status": "pending", "submission_id": sub.id}


def _mark_consent_source(session: Session, customer_id: str, source: str) -> None:
    session.execute(update(ConsentRecord).where(ConsentRecord.customer_id == customer_id)
                    .values(source=source))


def submit_form(session: Session, kehu: Kehu, *, code: str, data: dict[str, Any], consent_input: dict[str, Any] | None,
                ip: str | None) -> dict[str, Any]:
    """A submission of the public form `code` (anonymous; always reviewed)."""
    return submit(session, kehu, channel=form_channel(session, code), data=data, consent_input=consent_input, ip=ip)


def submit_system(session: Session, kehu: Kehu, *, token: str | None, data: dict[str, Any],
                  consent_input: dict[str, Any] | None, ip: str | None) -> dict[str, Any]:
    """A submission by another system, authenticated by its token (401 otherwise) and held to its scope."""
    return submit(session, kehu, channel=system_channel(session, token), data=data, consent_input=consent_input, ip=ip)


# --- review (审核) ------------------------------------------------------------------------------

def _load(session: Session, ctx: Ctx, submission_id: str, *, for_update: bool = False) -> IntakeSubmission:
    policy.require_capability(ctx.principal, REVIEW)
    if not ctx.principal.sees_customers:
        raise NotFound()
    stmt = select(IntakeSubmission).where(IntakeSubmission.id == submission_id)
    sub = session.execute(stmt.with_for_update() if for_update else stmt).scalar_one_or_none()
    if sub is None:
        raise NotFound()
    return sub


def _payload(ctx: Ctx, sub: IntakeSubmission) -> dict[str, Any]:
    vault = Vault(ctx.kehu.crypto, customer_id=sub.id, wrapped_dek=sub.dek)
    return json.loads(vault.open(sub.payload, table="intake_submissions", field="payload", row_id=sub.id))


def _shown(ctx: Ctx, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Submitted values as the reviewer may see them (level 1 masked, hidden without a view grant)."""
    kind, born = values.get("kind"), values.get("birth_date")
    minor = policy.is_minor(kind, a_date(born) if born else None)
    out = []
    for spec in ctx.catalog.writable("customer"):
        if spec.name not in values:
            continue
        state = policy.display_state(ctx.principal, spec, minor=minor)
        if state == "hidden":
            continue
        text = values[spec.name]
        if state == "masked":
            text = mask(spec.mask if spec.mask != "none" else "all", text)
        elif spec.choices:
            text = dict(spec.choices).get(text, text)
        out.append({"name": spec.name, "label": spec.label, "text": text, "state": state})
    return out


def _duplicates(session: Session, ctx: Ctx, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Existing archives with the same ID number / mobile / e-mail (blind index) or USCC."""
    return [{"field": name, "label": spec.label,
             "archive_no": no if policy.in_scope(ctx.principal, owner_id=owner, department_id=dept,
                                                 importance=importance) else None}
            for name, spec, hits in customers.duplicate_hits(session, ctx, values)
            for _id, no, owner, dept, importance in hits]


def queue(session: Session, ctx: Ctx, *, status: str = "pending", limit: int = 50) -> list[dict[str, Any]]:
    """Submissions waiting for review (or decided ones), oldest first; names masked per the reviewer's rights."""
    policy.require_capability(ctx.principal, REVIEW)
    if not ctx.principal.sees_customers:
        raise NotFound()
    status = status if status in ("pending", "approved", "rejected") else "pending"
    rows = session.execute(select(IntakeSubmission, IntakeChannel.name).join(IntakeChannel)
                           .where(IntakeSubmission.status == status)
                           .order_by(IntakeSubmission.received_at, IntakeSubmission.id)
                           .limit(max(1, min(limit, 200)))).all()
    items = []
    for sub, channel_name in rows:
        name = None
        if sub.payload is not None:
            shown = {v["name"]: v["text"] for v in _shown(ctx, _payload(ctx, sub))}
            name = shown.get("name")
        items.append({"id": sub.id, "channel": channel_name, "status": sub.status, "name": name,
                      "received_at": sub.received_at.isoformat(), "archive_no": sub.archive_no,
                      "reason": sub.reason})
    ctx.audit(session, action="intake.queue", target_type="intake_submission", fields=["customer.name"],
              detail={"status": status, "count": len(items)})
    return items


def get(session: Session, ctx: Ctx, *, submission_id: str) -> dict[str, Any]:
    """One submission for the reviewer: values (masked per rights), consent, duplicates, corrections."""
    sub = _load(session, ctx, submission_id)
    channel = session.get(IntakeChannel, sub.channel_id)
    body: dict[str, Any] = {"id": sub.id, "status": sub.status, "channel": channel.name,
                            "channel_fields": channel.field_list, "received_at": sub.received_at.isoformat(),
                            "reason": sub.reason, "archive_no": sub.archive_no, "corrections": sub.corrections,
                            "values": [], "consent": None, "duplicates": []}
    fields = []
    if sub.payload is not None:
        payload = _payload(ctx, sub)
        body["values"] = _shown(ctx, payload["data"])
        body["consent"] = payload["consent"]
        body["duplicates"] = _duplicates(session, ctx, payload["data"])
        fields = [f"customer.{v['name']}" for v in body["values"]]
    ctx.audit(session, action="intake.read", target_type="intake_submission", target_id=sub.id, fields=fields)
    return body


def _decided(sub: IntakeSubmission, ctx: Ctx, status: str, reason: str | None) -> None:
    """Close a submission: the decision stays, the sealed values and their key go (data minimisation)."""
    sub.status, sub.decided_at, sub.decided_by, sub.reason = status, utcnow(), ctx.principal.user_id, reason
    sub.payload, sub.dek = None, None


def _pending(session: Session, ctx: Ctx, submission_id: str) -> IntakeSubmission:
    sub = _load(session, ctx, submission_id, for_update=True)
    if sub.status != "pending":
        raise Conflict("该提交已审核完毕", code="already_decided")
    return sub


def approve(session: Session, ctx: Ctx, *, submission_id: str, corrections: dict[str, Any] | None = None,
            note: str | None = None, owner_id: str | None = None) -> dict[str, Any]:
    """Approve (optionally after corrections): the archive is created as the reviewer, with the consent."""
    sub = _pending(session, ctx, submission_id)
    channel = session.get(IntakeChannel, sub.channel_id)
    payload = _payload(ctx, sub)
    data = dict(payload["data"])
    writable = {s.name for s in ctx.catalog.writable("customer")}
    unknown = [k for k in (corrections or {}) if k not in writable]
    if unknown:
        raise ValidationFailed([FieldError(k, "unknown_field", "未知字段") for k in unknown])
    changed: dict[str, tuple[Any, Any]] = {}
    for name, raw in (corrections or {}).items():
        new = normalize_text(raw) if isinstance(raw, str) else raw
        new = None if new in ("", None) else new
        if new != data.get(name):
            changed[name] = (data.get(name), new)
            data[name] = new
    data = {k: v for k, v in data.items() if v is not None}
    data.setdefault("source_channel", channel.source_channel)
    if owner_id:
        data["owner_id"] = owner_id
    customer = customers.create(session, ctx, data={**data, "consent": payload["consent"]},
                                reason=f"审核通过：{channel.name}" + (f"（{note}）" if note else ""))
    _mark_consent_source(session, customer.id, f"intake:{sub.id}")
    vault = customers.vault_of(ctx, customer)
    for name, (old, new) in changed.items():
        corr = IntakeCorrection(id=new_id(), submission_id=sub.id, field=name, corrected_by=ctx.principal.user_id,
                                corrected_at=utcnow())
        corr.old_value = None if old is None else vault.seal(to_text(old), table="intake_corrections",
                                                             field=f"old:{name}", row_id=corr.id)
        corr.new_value = None if new is None else vault.seal(to_text(new), table="intake_corrections",
                                                             field=f"new:{name}", row_id=corr.id)
        session.add(corr)
    sub.corrections, sub.customer_id, sub.archive_no = len(changed), customer.id, customer.archive_no
    _decided(sub, ctx, "approved", note)
    ctx.audit(session, action="intake.approve", target_type="intake_submission", target_id=sub.id,
              customer_no=customer.archive_no, fields=[f"customer.{k}" for k in sorted(changed)],
              detail={"corrections": len(changed)})
    return {"status": "approved", "archive_no": customer.archive_no, "corrections": sorted(changed)}


def reject(session: Session, ctx: Ctx, *, submission_id: str, reason: str | None) -> dict[str, Any]:
    """Reject with a mandatory reason; nothing becomes effective and the submitted values are erased."""
    sub = _pending(session, ctx, submission_id)
    text = customers._reason(reason)
    _decided(sub, ctx, "rejected", text)
    ctx.audit(session, action="intake.reject", target_type="intake_submission", target_id=sub.id, reason=text)
    return {"status": "rejected", "id": sub.id}
