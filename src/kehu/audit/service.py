"""Reading the audit trail (审计员 only)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.audit.chain import verify as verify_chain
from kehu.audit.models import AuditEntry
from kehu.runtime import Ctx


def query(session: Session, ctx: Ctx, *, user: str | None = None, customer_no: str | None = None,
          action: str | None = None, since: datetime | None = None, until: datetime | None = None,
          before: int | None = None, limit: int = 50) -> dict:
    """Entries newest first, filtered by user (id or name), customer, action prefix and time."""
    require_capability(ctx.principal, "read_audit")
    since, until = (d.replace(tzinfo=d.tzinfo or timezone.utc) if d else None for d in (since, until))
    stmt = select(AuditEntry)
    if user:
        stmt = stmt.where((AuditEntry.actor_id == user) | (AuditEntry.actor_name == user))
    if customer_no:
        stmt = stmt.where(AuditEntry.customer_no == customer_no)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action))
    if since:
        stmt = stmt.where(AuditEntry.ts >= since)
    if until:
        stmt = stmt.where(AuditEntry.ts < until)
    if before:
        stmt = stmt.where(AuditEntry.seq < before)
    limit = max(1, min(limit, 500))
    rows = session.execute(stmt.order_by(AuditEntry.seq.desc()).limit(limit)).scalars().all()
    ctx.audit(session, action="audit.query", detail={"user": user, "customer_no": customer_no, "action": action})
    return {
        "items": [{
            "seq": r.seq, "ts": r.ts.isoformat(), "actor_id": r.actor_id, "actor_name": r.actor_name,
            "action": r.action, "outcome": r.outcome, "target_type": r.target_type, "target_id": r.target_id,
            "customer_no": r.customer_no, "fields": r.fields.split(",") if r.fields else [], "reason": r.reason,
            "detail": json.loads(r.detail) if r.detail else None, "ip": r.ip,
        } for r in rows],
        "next_before": rows[-1].seq if len(rows) == limit else None,
    }


def verify(session: Session, ctx: Ctx) -> dict:
    """Verify the whole chain."""
    require_capability(ctx.principal, "read_audit")
    result = verify_chain(session, ctx.kehu.audit).as_dict()
    ctx.audit(session, action="audit.verify", detail={"ok": result["ok"]})
    return result
