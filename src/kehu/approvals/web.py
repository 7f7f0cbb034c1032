"""Web pages of `kehu.approvals`: the approvers' queue, a request with its decision form, my requests."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.approvals import service
from kehu.approvals.kinds import KINDS
from kehu.errors import Conflict, Forbidden, ValidationFailed
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.session import CSRF_CODE, Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
Before = Annotated[Optional[str], Query(max_length=32)]


def approver(principal: Principal) -> bool:
    """Holds the capability of some registered kind of approval."""
    return any(principal.has(k.capability) for k in KINDS.values())


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entries: the approval queue (approvers), my requests (who may ask for a level-1 operation)."""
    items = [("nav.approvals", "/approvals/queue")] if approver(principal) else []
    if principal.sees_customers and any(principal.can(a, 1) for a in ("export", "share", "delete")):
        items.append(("nav.my_requests", "/approvals/mine"))
    return items


def _list(call: WebCall, view: str, before: str | None) -> Response:
    result = call.run("approval.list", lambda s, ctx: service.list_(s, ctx, view=view, before=before))
    more = f"{call.request.url.path}?before={result['next_before']}" if result["next_before"] else None
    return call.page("approvals/list.html", items=result["items"], view=view, more=more,
                     approver=approver(call.principal))


@router.get("/approvals")
@router.get("/approvals/queue")
def queue(call: Web, before: Before = None) -> Response:
    """Pending requests I may decide (never my own)."""
    return _list(call, "queue", before)


@router.get("/approvals/decided")
def decided(call: Web, before: Before = None) -> Response:
    """Requests of my kinds already decided, used or expired."""
    return _list(call, "decided", before)


@router.get("/approvals/mine")
def mine(call: Web, before: Before = None) -> Response:
    """My own requests and their state."""
    return _list(call, "mine", before)


def _detail(call: WebCall, approval_id: str, *, problems: forms.Problems | None = None,
            status: int = 200) -> Response:
    item = call.run("approval.read", lambda s, ctx: service.get(s, ctx, approval_id=approval_id),
                    target=approval_id)
    return call.page("approvals/detail.html", a=item, problems=problems or forms.Problems(), status=status,
                     reason=call.value("reason"))


@router.get("/approvals/{approval_id}")
def detail(call: Web, approval_id: str) -> Response:
    """One request: what exactly will be done, by whom, why; the decision form for an approver."""
    return _detail(call, approval_id)


def _decide(call: WebCall, approval_id: str, approve: bool) -> Response:
    try:
        call.run("approval.approve" if approve else "approval.reject", lambda s, ctx: service.decide(
            s, ctx, approval_id=approval_id, approve=approve, reason=call.value("reason")), target=approval_id)
    except (ValidationFailed, Forbidden, Conflict) as exc:
        if exc.code == CSRF_CODE:
            raise
        return _detail(call, approval_id, problems=forms.problems(exc, ["reason"]), status=exc.status)
    return call.redirect(f"/approvals/{approval_id}?ok={'approved' if approve else 'rejected'}")


@router.post("/approvals/{approval_id}/approve")
def approve(call: Web, approval_id: str) -> Response:
    """Approve (an optional note)."""
    return _decide(call, approval_id, True)


@router.post("/approvals/{approval_id}/reject")
def reject(call: Web, approval_id: str) -> Response:
    """Reject, with the reason."""
    return _decide(call, approval_id, False)
