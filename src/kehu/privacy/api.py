"""JSON API of `kehu.privacy`: rights requests, the subject's copy, destruction, retention, legal holds, shares."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from kehu.customers.api import Api
from kehu.exports import writer
from kehu.privacy import copy, requests, retention, sharing
from kehu.privacy.schemas import (CalendarDaySet, DestructionCreate, HoldCreate, Outcome, Reason, RequestCreate,
                                  ShareCreate, Verify)

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy 个人信息保护"])
RequestNo = Annotated[str, Query(max_length=20)]


def _req(fn):
    """Map a service call returning a RightsRequest to its JSON form."""
    return lambda s, ctx: requests.as_dict(fn(s, ctx), today=date.today())


@router.get("/requests")
def list_requests(call: Api, status: Annotated[Optional[str], Query(max_length=10)] = None,
                  overdue: Optional[bool] = None, customer_no: Annotated[Optional[str], Query(max_length=20)] = None,
                  as_of: Optional[date] = None) -> list[dict]:
    """The register of rights requests, earliest deadline first; `overdue=true` for open ones past it."""
    return call.run("privacy.request.list", lambda s, ctx: requests.list_(
        s, ctx, today=as_of or date.today(), status=status, overdue=overdue, customer_no=customer_no))


@router.post("/requests", status_code=201)
def create_request(call: Api, payload: RequestCreate) -> dict:
    """Register a request; its deadline counts working days (holidays and 调休 from the calendar)."""
    return call.run("privacy.request.create", _req(lambda s, ctx: requests.create(
        s, ctx, customer_no=payload.customer_no, kind=payload.kind, received_on=payload.received_on or date.today(),
        channel=payload.channel, working_days=payload.working_days)), target=payload.customer_no)


@router.get("/requests/{request_no}")
def get_request(call: Api, request_no: str) -> dict:
    """One request."""
    return call.run("privacy.request.read", _req(lambda s, ctx: requests.get(s, ctx, request_no=request_no)),
                    target=request_no)


@router.post("/requests/{request_no}/verify")
def verify_request(call: Api, request_no: str, payload: Verify) -> dict:
    """Record the requester's identity verification (method; who and when are the caller and now)."""
    return call.run("privacy.request.verify", _req(lambda s, ctx: requests.verify(
        s, ctx, request_no=request_no, method=payload.method)), target=request_no)


@router.post("/requests/{request_no}/complete")
def complete_request(call: Api, request_no: str, payload: Outcome) -> dict:
    """Close a verified request with what was done."""
    return call.run("privacy.request.complete", _req(lambda s, ctx: requests.complete(
        s, ctx, request_no=request_no, outcome=payload.outcome)), target=request_no)


@router.post("/requests/{request_no}/reject")
def reject_request(call: Api, request_no: str, payload: Reason) -> dict:
    """Refuse a request (reason mandatory)."""
    return call.run("privacy.request.reject", _req(lambda s, ctx: requests.reject(
        s, ctx, request_no=request_no, reason=payload.reason)), target=request_no)


@router.get("/requests/{request_no}/copy", responses={200: {"description": "JSON 或 Excel"}})
def request_copy(call: Api, request_no: str, format: Literal["json", "xlsx"] = "json") -> Response:
    """The data subject's copy for a verified access/copy request: machine-readable JSON or an Excel workbook."""
    body = call.run("privacy.copy", lambda s, ctx: copy.for_request(s, ctx, request_no=request_no), target=request_no)
    if format == "xlsx":
        return Response(copy.to_xlsx(body), headers={"Content-Disposition": f'attachment; filename="{request_no}.xlsx"',
                                                     "Cache-Control": "no-store"},
                        media_type=writer.MEDIA_TYPES["xlsx"])
    return Response(copy.to_json(body), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{request_no}.json"',
                             "Cache-Control": "no-store"})


@router.post("/requests/{request_no}/destruction", status_code=201)
def destroy_for_request(call: Api, request_no: str) -> dict:
    """A verified deletion / withdrawal request → a destruction awaiting a second person's approval."""
    return call.run("privacy.destruction.request", lambda s, ctx: _destruction(
        s, ctx, retention.request_for_rights(s, ctx, request_no=request_no)), target=request_no)


def _destruction(s, ctx, d) -> dict:
    users, _ = ctx.names(s)
    return retention.as_dict(d, users)


@router.get("/destructions")
def list_destructions(call: Api, status: Annotated[Optional[str], Query(max_length=10)] = None) -> list[dict]:
    """Destruction requests and records (categories, counts, method, approver, time — never content)."""
    return call.run("privacy.destruction.list", lambda s, ctx: retention.list_destructions(s, ctx, status=status))


@router.post("/destructions", status_code=201)
def destroy_archive(call: Api, payload: DestructionCreate) -> dict:
    """Ask to destroy a whole archive (needs `delete` at every level it holds)."""
    return call.run("privacy.destruction.request", lambda s, ctx: _destruction(s, ctx, retention.request_archive(
        s, ctx, customer_no=payload.customer_no, reason=payload.reason)), target=payload.customer_no)


@router.post("/destructions/{destruction_id}/execute")
def execute_destruction(call: Api, destruction_id: str) -> dict:
    """Run an approved destruction (its requester; the approval is consumed)."""
    return call.run("privacy.destruction.execute", lambda s, ctx: _destruction(s, ctx, retention.execute(
        s, ctx, destruction_id=destruction_id, today=date.today())), target=destruction_id)


@router.get("/retention")
def retention_dry_run(call: Api, as_of: Optional[date] = None) -> dict:
    """Dry run: what is due for destruction, per retention class and entity (counts only)."""
    return call.run("privacy.retention.dry_run", lambda s, ctx: retention.dry_run(s, ctx, today=as_of or date.today()))


@router.post("/retention")
def retention_request(call: Api) -> dict:
    """File one destruction request for everything due (null when nothing is)."""
    return call.run("privacy.retention.request", lambda s, ctx: (lambda d: _destruction(s, ctx, d) if d else {})(
        retention.request_retention(s, ctx, today=date.today())))


@router.get("/holds")
def list_holds(call: Api, active: bool = False) -> list[dict]:
    """Legal holds."""
    return call.run("privacy.hold.list", lambda s, ctx: retention.list_holds(s, ctx, active_only=active))


@router.post("/holds", status_code=201)
def place_hold(call: Api, payload: HoldCreate) -> dict:
    """Place a legal hold (blocks destruction)."""
    return call.run("privacy.hold.place", lambda s, ctx: {"id": retention.place_hold(
        s, ctx, customer_no=payload.customer_no, reason=payload.reason).id}, target=payload.customer_no)


@router.post("/holds/{hold_id}/lift")
def lift_hold(call: Api, hold_id: str, payload: Reason) -> dict:
    """Lift a legal hold, with a reason."""
    return call.run("privacy.hold.lift", lambda s, ctx: {"id": retention.lift_hold(
        s, ctx, hold_id=hold_id, reason=payload.reason).id}, target=hold_id)


@router.get("/shares")
def list_shares(call: Api, customer_no: Annotated[Optional[str], Query(max_length=20)] = None) -> list[dict]:
    """Share records (mine; all for approvers)."""
    return call.run("privacy.share.list", lambda s, ctx: sharing.list_(s, ctx, customer_no=customer_no))


@router.post("/shares", status_code=201)
def request_share(call: Api, payload: ShareCreate) -> dict:
    """Ask to share fields of customers with a third party; a second person approves."""
    def go(s, ctx):
        share = sharing.request(s, ctx, recipient=payload.recipient, purpose=payload.purpose, fields=payload.fields,
                                customer_nos=payload.customer_nos, legal_basis=payload.legal_basis,
                                agreement_ref=payload.agreement_ref, expires_on=payload.expires_on, today=date.today())
        return sharing.as_dict(share, ctx.names(s)[0])
    return call.run("privacy.share.request", go)


@router.post("/shares/{share_id}/file", responses={200: {"description": "CSV 或 Excel 文件"}})
def produce_share(call: Api, share_id: str, format: Literal["csv", "xlsx"] = "xlsx") -> Response:
    """Produce an approved share once (its requester), through the export writer."""
    plan = call.run("privacy.share.produce", lambda s, ctx: sharing.produce(
        s, ctx, share_id=share_id, fmt=format, today=date.today()), target=share_id)
    return StreamingResponse(writer.stream(plan), media_type=writer.MEDIA_TYPES[plan.fmt],
                             headers={"Content-Disposition": f'attachment; filename="{plan.filename}"',
                                      "Cache-Control": "no-store"})


@router.put("/calendar/{day}")
def set_calendar_day(call: Api, day: date, payload: CalendarDaySet) -> dict:
    """Mark a public holiday or adjusted working day (调休) for deadlines, or clear it (kind null)."""
    def go(s, ctx):
        requests.set_calendar_day(s, ctx, day=day, kind=payload.kind, note=payload.note)
        return {"day": day.isoformat(), "kind": payload.kind}
    return call.run("privacy.calendar.set", go)
