"""JSON API of `kehu.approvals`: the approver's queue, the requester's view, decisions.

Requests are created by the operations that need them (e.g. `POST /api/v1/exports` with level-1
plain text), never directly, so every request describes a real, exactly specified operation.
"""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query

from kehu.approvals import service
from kehu.approvals.schemas import DecisionRequest
from kehu.customers.api import Api

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals 审批"])


@router.get("")
def list_approvals(call: Api, view: Annotated[str, Query(pattern="^(queue|mine|decided)$")] = "queue",
                   before: Annotated[Optional[str], Query(max_length=32)] = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    """`queue`: pending requests I may decide; `mine`: my own requests; `decided`: decided requests of my kinds."""
    return call.run("approval.list", lambda s, ctx: service.list_(s, ctx, view=view, before=before, limit=limit))


@router.get("/{approval_id}")
def get_approval(call: Api, approval_id: str) -> dict:
    """One request (its requester or an approver of its kind; 404 for anyone else)."""
    return call.run("approval.read", lambda s, ctx: service.get(s, ctx, approval_id=approval_id), target=approval_id)


@router.post("/{approval_id}/approve")
def approve(call: Api, approval_id: str, payload: DecisionRequest) -> dict:
    """Approve: another person than the requester, holding the kind's capability and the operation's data rights."""
    return call.run("approval.approve", lambda s, ctx: service.decide(
        s, ctx, approval_id=approval_id, approve=True, reason=payload.reason), target=approval_id)


@router.post("/{approval_id}/reject")
def reject(call: Api, approval_id: str, payload: DecisionRequest) -> dict:
    """Reject, with a reason (required)."""
    return call.run("approval.reject", lambda s, ctx: service.decide(
        s, ctx, approval_id=approval_id, approve=False, reason=payload.reason), target=approval_id)
