"""Two-person approval (双人审批) of sensitive operations. No HTTP here; never commits.

The life of a request: an operation's service calls `request(kind, summary, payload, rights)` →
a different person who holds the kind's capability AND every data right the operation needs
approves (or rejects, with a reason) → the operation calls `consume(kind, payload)` when it runs:
only the requester may use it, only once, only before it expires, and only for exactly the payload
that was approved (SHA-256 of the canonical JSON). Every step is audited.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kehu.approvals import repository as repo
from kehu.approvals.kinds import KINDS, Kind, label
from kehu.approvals.models import Approval
from kehu.catalog.spec import ACTION_NAMES, LEVEL_NAMES
from kehu.customers.service import _reason
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.runtime import Ctx

_DEFAULT = Kind(code="", label="", capability="")


def canonical(payload: dict[str, Any]) -> str:
    """The one text form of a payload (sorted keys, no spaces) that its digest covers."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def digest(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical payload."""
    return hashlib.sha256(canonical(payload).encode()).hexdigest()


def effective_status(a: Approval, now: datetime | None = None) -> str:
    """The status as of now: a pending or approved request past its expiry counts as expired."""
    if a.status in ("pending", "approved") and (now or utcnow()) >= a.expires_at:
        return "expired"
    return a.status


def _rights(rights: list[tuple[str, int]]) -> str:
    return ",".join(f"{a}:{lvl}" for a, lvl in sorted(set(rights)))


def _parse_rights(text: str) -> list[tuple[str, int]]:
    return [(p.split(":")[0], int(p.split(":")[1])) for p in text.split(",") if p]


def request(session: Session, ctx: Ctx, *, kind: str, summary: str, payload: dict[str, Any],
            rights: list[tuple[str, int]], subject_id: str | None = None) -> Approval:
    """Ask for a second person's approval of exactly `payload`; an identical pending request is reused."""
    if kind not in KINDS:
        raise ValidationFailed([FieldError("kind", "unknown_kind", "未知的审批类型")])
    spec = KINDS[kind]
    text = (summary or "").strip()
    if not text or len(text) > 500:
        raise ValidationFailed([FieldError("summary", "invalid", "审批摘要不能为空且不超过500个字符")])
    key = digest(payload)
    existing = repo.pending_digest(session, requested_by=ctx.principal.user_id, kind=kind, digest=key)
    if existing is not None and effective_status(existing) == "pending" and existing.subject_id == subject_id:
        return existing
    now = utcnow()
    a = Approval(id=new_id(), kind=kind, capability=spec.capability, rights=_rights(rights), status="pending",
                 requested_by=ctx.principal.user_id, requested_at=now, summary=text, payload=canonical(payload),
                 digest=key, subject_id=subject_id, expires_at=now + spec.decide_within)
    session.add(a)
    ctx.audit(session, action="approval.request", target_type="approval", target_id=a.id,
              detail={"kind": kind, "digest": key, "subject_id": subject_id, "rights": a.rights})
    return a


def _visible(ctx: Ctx, a: Approval | None) -> Approval:
    """The requester and holders of the kind's capability see a request; for anyone else it does not exist."""
    if a is None or not (a.requested_by == ctx.principal.user_id or ctx.principal.has(a.capability)):
        raise NotFound()
    return a


def decide(session: Session, ctx: Ctx, *, approval_id: str, approve: bool, reason: str | None) -> dict[str, Any]:
    """Approve or reject (reason required) a pending request: a different person with the capability and rights."""
    a = _visible(ctx, repo.get(session, approval_id, for_update=True))
    p = ctx.principal
    if a.requested_by == p.user_id:
        raise Forbidden("不能审批本人提交的申请，须由另一位有权限的人员审批", code="self_approval")
    if not p.has(a.capability):
        raise Forbidden("您没有该类申请的审批权限", code="forbidden_approve")
    missing = [(act, lvl) for act, lvl in _parse_rights(a.rights) if not p.can(act, lvl)]
    if missing:
        raise Forbidden("审批人本人须具备该操作所需的全部数据权限，缺少：" + "、".join(f"{act}@{lvl}" for act, lvl in missing),
                        code="approver_lacks_rights")
    status = effective_status(a)
    if status == "expired":
        raise Conflict("该申请已过期", code="approval_expired")
    if status != "pending":
        raise Conflict("该申请已处理", code="approval_not_pending")
    if approve:
        text = (reason or "").strip() or None
        if text and len(text) > 500:
            raise ValidationFailed([FieldError("reason", "too_long", "原因不能超过500个字符")])
    else:
        text = _reason(reason)
    now = utcnow()
    a.status, a.decided_by, a.decided_at, a.decision_reason = ("approved" if approve else "rejected"), p.user_id, \
        now, text
    if approve:
        a.expires_at = now + KINDS.get(a.kind, _DEFAULT).use_within
    ctx.audit(session, action="approval.approve" if approve else "approval.reject", target_type="approval",
              target_id=a.id, reason=text, detail={"kind": a.kind, "requested_by": a.requested_by,
                                                   "digest": a.digest})
    return as_dict(ctx, session, a)


def consume(session: Session, ctx: Ctx, *, approval_id: str, kind: str, payload: dict[str, Any]) -> Approval:
    """Use an approval for the operation about to run: own, approved, unexpired, unused, exactly this payload."""
    a = repo.get(session, approval_id, for_update=True)
    if a is None or a.requested_by != ctx.principal.user_id:
        raise NotFound()
    status = effective_status(a)
    refusals = {"used": ("该审批已使用过，每次审批只能使用一次", "approval_used"),
                "expired": ("该审批已过期", "approval_expired"),
                "rejected": ("该申请已被驳回", "approval_rejected"),
                "pending": ("该申请尚未获批", "approval_pending")}
    if status in refusals:
        raise Forbidden(refusals[status][0], code=refusals[status][1])
    if a.kind != kind or a.digest != digest(payload) or a.decided_by in (None, a.requested_by):
        raise Forbidden("该审批与本次操作的内容不一致（条件、字段或用途不同）", code="approval_mismatch")
    a.status, a.used_at = "used", utcnow()
    ctx.audit(session, action="approval.use", target_type="approval", target_id=a.id,
              detail={"kind": kind, "digest": a.digest, "subject_id": a.subject_id})
    return a


def get(session: Session, ctx: Ctx, *, approval_id: str) -> dict[str, Any]:
    """One request, for its requester or an approver of its kind."""
    return as_dict(ctx, session, _visible(ctx, repo.get(session, approval_id)))


VIEWS = ("queue", "mine", "decided")


def list_(session: Session, ctx: Ctx, *, view: str = "queue", before: str | None = None,
          limit: int = 50) -> dict[str, Any]:
    """The approver's queue (pending, others' requests), the requester's own requests, or decided ones."""
    if view not in VIEWS:
        raise ValidationFailed([FieldError("view", "invalid_choice", "无效的列表类型")])
    limit = max(1, min(int(limit), 200))
    caps = sorted(c for c in ctx.principal.capabilities if c.startswith("approve_"))
    if view == "mine":
        rows = repo.of_requester(session, user_id=ctx.principal.user_id, before=before, limit=limit)
    elif view == "queue":
        rows = [a for a in repo.queue(session, capabilities=caps, exclude_requester=ctx.principal.user_id,
                                      before=before, limit=limit) if effective_status(a) == "pending"]
    else:
        rows = repo.decided(session, capabilities=caps, before=before, limit=limit)
    items = [as_dict(ctx, session, a) for a in rows]
    return {"items": items, "next_before": rows[-1].id if len(rows) == limit else None}


def approver_capabilities(ctx: Ctx) -> list[str]:
    """Capabilities of registered kinds that the caller holds (an approver sees the queue)."""
    return sorted({k.capability for k in KINDS.values() if ctx.principal.has(k.capability)})


def as_dict(ctx: Ctx, session: Session, a: Approval) -> dict[str, Any]:
    """JSON form of a request as its reader may see it (no customer values are ever in it)."""
    users, _depts = ctx.names(session)
    spec = KINDS.get(a.kind)
    status = effective_status(a)
    p = ctx.principal
    return {"id": a.id, "kind": a.kind, "kind_label": label(a.kind), "status": status,
            "requested_by": a.requested_by, "requester_name": users.get(a.requested_by),
            "requested_at": a.requested_at.isoformat(), "summary": a.summary, "payload": json.loads(a.payload),
            "digest": a.digest, "rights": [f"{act}:{lvl}" for act, lvl in _parse_rights(a.rights)],
            "rights_text": [ACTION_NAMES.get(act, act) + LEVEL_NAMES.get(lvl, str(lvl))
                            for act, lvl in _parse_rights(a.rights)],
            "expires_at": a.expires_at.isoformat(), "decided_by": a.decided_by,
            "decider_name": users.get(a.decided_by) if a.decided_by else None,
            "decided_at": a.decided_at.isoformat() if a.decided_at else None,
            "decision_reason": a.decision_reason, "used_at": a.used_at.isoformat() if a.used_at else None,
            "subject_id": a.subject_id,
            "page": spec.page.format(subject_id=a.subject_id) if spec and spec.page and a.subject_id else None,
            "mine": a.requested_by == p.user_id,
            "can_decide": status == "pending" and a.requested_by != p.user_id and p.has(a.capability)
            and all(p.can(act, lvl) for act, lvl in _parse_rights(a.rights))}
