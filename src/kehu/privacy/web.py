"""Web pages of `kehu.privacy`: the rights-request register, the subject's copy, destructions, retention, holds, shares."""
from __future__ import annotations

from datetime import date
from typing import Callable

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from kehu.access.principal import Principal
from kehu.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kehu.exports import writer
from kehu.privacy import copy, requests, retention, sharing
from kehu.privacy.models import REQUEST_KINDS, VERIFY_METHODS
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.session import CSRF_CODE, Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entries for handlers of rights requests, retention managers and share approvers."""
    items = []
    if principal.has(requests.CAPABILITY):
        items.append(("nav.privacy_requests", "/privacy/requests"))
    if principal.has(retention.MANAGE) or principal.has(retention.APPROVE):
        items.append(("nav.privacy_retention", "/privacy/retention"))
    if principal.has(sharing.APPROVE) or principal.can("share", 1) or principal.can("share", 2):
        items.append(("nav.privacy_shares", "/privacy/shares"))
    return items


def _post(call: WebCall, action: str, fn: Callable, *, done: str, again: Callable[[forms.Problems, int], Response],
          shown: list[str], target: str | None = None) -> Response:
    """Run a form's service call; on a domain error show the same page with the problems, else redirect."""
    try:
        call.run(action, fn, target=target)
    except (ValidationFailed, Forbidden, Conflict, NotFound) as exc:
        if exc.code == CSRF_CODE or isinstance(exc, NotFound):
            raise
        return again(forms.problems(exc, shown), exc.status)
    return call.redirect(done)


# rights requests ----------------------------------------------------------------------------------------------
def _register(call: WebCall, problems: forms.Problems | None = None, status: int = 200) -> Response:
    items = call.run("privacy.request.list", lambda s, ctx: requests.list_(s, ctx, today=date.today()))
    return call.page("privacy/requests.html", items=items, kinds=REQUEST_KINDS, problems=problems or forms.Problems(),
                     posted={k: call.value(k) for k in ("customer_no", "kind", "channel")}, status=status)


@router.get("/privacy/requests")
def request_list(call: Web) -> Response:
    """The register: deadline, status, overdue flag; a form to register a new request."""
    return _register(call)


@router.post("/privacy/requests")
def request_create(call: Web) -> Response:
    """Register a request received today."""
    return _post(call, "privacy.request.create", lambda s, ctx: requests.create(
        s, ctx, customer_no=call.value("customer_no").strip(), kind=call.value("kind"), received_on=date.today(),
        channel=call.value("channel")), done="/privacy/requests", shown=["customer_no", "kind", "channel"],
        again=lambda p, st: _register(call, p, st))


def _request(call: WebCall, request_no: str, problems: forms.Problems | None = None, status: int = 200) -> Response:
    item = call.run("privacy.request.read", lambda s, ctx: requests.as_dict(
        requests.get(s, ctx, request_no=request_no), today=date.today()), target=request_no)
    return call.page("privacy/request.html", r=item, methods=VERIFY_METHODS, problems=problems or forms.Problems(),
                     reason=call.value("reason"), status=status)


@router.get("/privacy/requests/{request_no}")
def request_detail(call: Web, request_no: str) -> Response:
    """One request with its verification, handling and closing forms."""
    return _request(call, request_no)


@router.post("/privacy/requests/{request_no}/{step}")
def request_step(call: Web, request_no: str, step: str) -> Response:
    """verify / complete / reject / destroy (turn a verified deletion request into a destruction)."""
    steps = {
        "verify": lambda s, ctx: requests.verify(s, ctx, request_no=request_no, method=call.value("method")),
        "complete": lambda s, ctx: requests.complete(s, ctx, request_no=request_no, outcome=call.value("reason")),
        "reject": lambda s, ctx: requests.reject(s, ctx, request_no=request_no, reason=call.value("reason")),
        "destroy": lambda s, ctx: retention.request_for_rights(s, ctx, request_no=request_no),
    }
    if step not in steps:
        raise NotFound()
    return _post(call, f"privacy.request.{step}", steps[step], done=f"/privacy/requests/{request_no}",
                 shown=["method", "reason", "outcome"], target=request_no,
                 again=lambda p, st: _request(call, request_no, p, st))


@router.get("/privacy/requests/{request_no}/copy.{fmt}")
def request_copy(call: Web, request_no: str, fmt: str) -> Response:
    """Download the subject's copy (JSON or Excel) for a verified access/copy request."""
    if fmt not in ("json", "xlsx"):
        raise NotFound()
    body = call.run("privacy.copy", lambda s, ctx: copy.for_request(s, ctx, request_no=request_no), target=request_no)
    data, media = (copy.to_json(body), "application/json") if fmt == "json" else \
        (copy.to_xlsx(body), writer.MEDIA_TYPES["xlsx"])
    return Response(data, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{request_no}.{fmt}"', "Cache-Control": "no-store"})


# retention, destructions, holds ------------------------------------------------------------------------------------
def _retention(call: WebCall, problems: forms.Problems | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        dry = retention.dry_run(s, ctx, today=date.today()) if ctx.principal.has(retention.MANAGE) else None
        holds = retention.list_holds(s, ctx) if ctx.principal.has(retention.MANAGE) else []
        return dry, holds, retention.list_destructions(s, ctx)
    dry, holds, destructions = call.run("privacy.retention.page", go)
    return call.page("privacy/retention.html", dry=dry, holds=holds, destructions=destructions,
                     problems=problems or forms.Problems(), reason=call.value("reason"), status=status)


@router.get("/privacy/retention")
def retention_page(call: Web) -> Response:
    """Dry run (what is due), legal holds, destruction requests and records."""
    return _retention(call)


@router.post("/privacy/retention/{step}")
def retention_step(call: Web, step: str) -> Response:
    """request (file the due destruction) / hold (place) / archive (destroy one archive)."""
    steps = {
        "request": lambda s, ctx: retention.request_retention(s, ctx, today=date.today()),
        "hold": lambda s, ctx: retention.place_hold(s, ctx, customer_no=call.value("customer_no").strip() or None,
                                                    reason=call.value("reason")),
        "archive": lambda s, ctx: retention.request_archive(s, ctx, customer_no=call.value("customer_no").strip(),
                                                            reason=call.value("reason")),
    }
    if step not in steps:
        raise NotFound()
    return _post(call, f"privacy.retention.{step}", steps[step], done="/privacy/retention",
                 shown=["reason", "customer_no"], again=lambda p, st: _retention(call, p, st))


@router.post("/privacy/holds/{hold_id}/lift")
def hold_lift(call: Web, hold_id: str) -> Response:
    """Lift a legal hold (reason)."""
    return _post(call, "privacy.hold.lift", lambda s, ctx: retention.lift_hold(
        s, ctx, hold_id=hold_id, reason=call.value("reason")), done="/privacy/retention", shown=["reason"],
        target=hold_id, again=lambda p, st: _retention(call, p, st))


@router.post("/privacy/destructions/{destruction_id}/execute")
def destruction_execute(call: Web, destruction_id: str) -> Response:
    """Run an approved destruction (its requester)."""
    return _post(call, "privacy.destruction.execute", lambda s, ctx: retention.execute(
        s, ctx, destruction_id=destruction_id, today=date.today()), done="/privacy/retention", shown=[],
        target=destruction_id, again=lambda p, st: _retention(call, p, st))


@router.get("/privacy/destructions/{destruction_id}")
def destruction_detail(call: Web, destruction_id: str) -> Response:
    """A destruction's record (the approval queue links here)."""
    return call.redirect(f"/privacy/retention#d-{destruction_id}")


# shares ------------------------------------------------------------------------------------------------------
def _shares(call: WebCall, problems: forms.Problems | None = None, status: int = 200) -> Response:
    items = call.run("privacy.share.list", lambda s, ctx: sharing.list_(s, ctx))
    return call.page("privacy/shares.html", items=items, problems=problems or forms.Problems(), status=status)


@router.get("/privacy/shares")
def share_list(call: Web) -> Response:
    """Share requests and records; the requester produces an approved share here."""
    return _shares(call)


@router.get("/privacy/shares/{share_id}")
def share_detail(call: Web, share_id: str) -> Response:
    """A share (the approval queue links here)."""
    return call.redirect(f"/privacy/shares#s-{share_id}")


@router.post("/privacy/shares/{share_id}/file")
def share_file(call: Web, share_id: str) -> Response:
    """Produce an approved share once, as an Excel file through the export writer."""
    try:
        plan = call.run("privacy.share.produce", lambda s, ctx: sharing.produce(
            s, ctx, share_id=share_id, fmt="xlsx", today=date.today()), target=share_id)
    except (Forbidden, Conflict) as exc:
        if exc.code == CSRF_CODE:
            raise
        return _shares(call, forms.problems(exc, []), exc.status)
    return StreamingResponse(writer.stream(plan), media_type=writer.MEDIA_TYPES["xlsx"], headers={
        "Content-Disposition": f'attachment; filename="{plan.filename}"', "Cache-Control": "no-store"})
