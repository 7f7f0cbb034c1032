"""Every query of approvals."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.approvals.models import Approval


ID = re.compile(r"[0-9a-f]{32}")


def get(session: Session, approval_id: str, *, for_update: bool = False) -> Approval | None:
    """One approval by id (None for anything that is not an id)."""
    if not isinstance(approval_id, str) or not ID.fullmatch(approval_id):
        return None
    stmt = select(Approval).where(Approval.id == approval_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def pending_digest(session: Session, *, requested_by: str, kind: str, digest: str) -> Approval | None:
    """The requester's newest pending request with exactly this payload, if any."""
    stmt = select(Approval).where(Approval.requested_by == requested_by, Approval.kind == kind,
                                  Approval.digest == digest, Approval.status == "pending")
    return session.execute(stmt.order_by(Approval.id.desc()).limit(1)).scalar_one_or_none()


def queue(session: Session, *, capabilities: list[str], exclude_requester: str, before: str | None,
          limit: int) -> list[Approval]:
    """Pending requests whose capability is among `capabilities`, not the caller's own, newest first."""
    stmt = select(Approval).where(Approval.status == "pending", Approval.capability.in_(capabilities),
                                  Approval.requested_by != exclude_requester)
    if before and ID.fullmatch(before):
        stmt = stmt.where(Approval.id < before)
    return list(session.execute(stmt.order_by(Approval.id.desc()).limit(limit)).scalars())


def of_requester(session: Session, *, user_id: str, before: str | None, limit: int) -> list[Approval]:
    """A requester's own requests, newest first."""
    stmt = select(Approval).where(Approval.requested_by == user_id)
    if before and ID.fullmatch(before):
        stmt = stmt.where(Approval.id < before)
    return list(session.execute(stmt.order_by(Approval.id.desc()).limit(limit)).scalars())


def decided(session: Session, *, capabilities: list[str], before: str | None, limit: int) -> list[Approval]:
    """Requests already decided (or used/expired) whose capability is among `capabilities`, newest first."""
    stmt = select(Approval).where(Approval.status != "pending", Approval.capability.in_(capabilities))
    if before and ID.fullmatch(before):
        stmt = stmt.where(Approval.id < before)
    return list(session.execute(stmt.order_by(Approval.id.desc()).limit(limit)).scalars())
