"""HTML adapter of complaints (投诉): the archive's complaint tab, registration, the complaint page with the
next step of its workflow, and the list of complaints with overdue flags."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.complaints import service
from kehu.complaints.models import STATUSES
from kehu.errors import KehuError
from kehu.interactions.service import load_customer
from kehu.interactions.tabs import (columns, customers_only, form_page, inputs, may_any, message, rows,
                                    shown_on_form, tab)
from kehu.web import forms, view
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import t
from kehu.web.render import today_local
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
REGISTER_FORM = ("kind", "channel", "urgency", "received_on", "promised_on", "content")
LIST_COLUMNS = ["complaint_no", "status", "kind", "urgency", "received_on", "promised_on", "closed_on"]
Text = Annotated[Optional[str], Query(max_length=40)]


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entry: the complaint list for users who see customers."""
    return [("nav.complaints", "/complaints")] if principal.sees_customers else []


@router.get("/customers/{no}/complaints")
def customer_complaints(call: Web, no: str) -> Response:
    """Complaints of a customer with their deadline state."""
    today = today_local()

    def go(s, ctx):
        customers_only(ctx)
        load_customer(s, ctx, no)
        return service.list_(s, ctx, today=today, customer_no=no, limit=100)

    page = call.run("complaint.list", go, target=no)
    specs = columns(call, "complaint", LIST_COLUMNS)
    return tab(call, no, "complaints", "complaints/_tab.html", rows=rows(call, specs, page["items"]), specs=specs,
               can_add=may_any(call, "create", "complaint"))


def _register_form(call: WebCall, no: str, *, exc: KehuError | None = None) -> Response:
    call.run("complaint.register", lambda s, ctx: (customers_only(ctx), load_customer(s, ctx, no)), target=no)
    posted = forms.parse(call.form, call.catalog, "complaint") if exc else None
    items, problems = inputs(call, "complaint", only=REGISTER_FORM, posted=posted, exc=exc,
                             defaults={"received_on": today_local().isoformat(), "urgency": "normal"})
    return form_page(call, title=t("flow.complaint.new"), action=f"/customers/{no}/complaint",
                     back=f"/customers/{no}/complaints", items=items, problems=problems, no=no,
                     status=exc.status if exc else 200)


@router.get("/customers/{no}/complaint")
def register_form(call: Web, no: str) -> Response:
    """The registration form of a complaint (受理)."""
    return _register_form(call, no)


@router.post("/customers/{no}/complaint")
def register(call: Web, no: str) -> Response:
    """Register the complaint; the promised date defaults from the urgency."""
    try:
        found = call.run("complaint.register", lambda s, ctx: service.register(
            s, ctx, customer_no=no, data=forms.parse(call.form, ctx.catalog, "complaint"), today=today_local()),
            target=no)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _register_form(call, no, exc=exc)
    return call.redirect(f"/complaints/{found['complaint_no']}?ok=created")


@router.get("/complaints")
def listing(call: Web, status: Text = None, overdue: Text = None,
            cursor: Annotated[Optional[str], Query(max_length=40)] = None) -> Response:
    """Complaints of customers in scope, newest first; filter by state or overdue."""
    today = today_local()
    late = True if overdue == "1" else None

    def go(s, ctx):
        customers_only(ctx)
        return service.list_(s, ctx, today=today, status=status or None, overdue=late, cursor=cursor, limit=50)

    page = call.run("complaint.list", go)
    specs = columns(call, "complaint", LIST_COLUMNS)
    params = {k: v for k, v in {"status": status, "overdue": overdue}.items() if v}
    more = "/complaints?" + urlencode({**params, "cursor": page["next_cursor"]}) if page["next_cursor"] else None
    return call.page("complaints/list.html", rows=rows(call, specs, page["items"]), specs=specs, more=more,
                     status_value=status or "", overdue=overdue == "1", statuses=STATUSES)


def _page(call: WebCall, no: str, *, exc: KehuError | None = None) -> Response:
    today = today_local()

    def go(s, ctx):
        customers_only(ctx)
        return service.get(s, ctx, complaint_no=no, today=today), ctx.names(s)[1]

    c, departments = call.run("complaint.read", go, target=no)
    c["department_name"] = departments.get(c.get("responsible_department_id") or "")  # shown by name, not id
    step = next((st for st in service.STEPS.values() if st.source == c.get("status")), None)
    items, problems = [], forms.Problems()
    if step is not None:
        posted = forms.parse(call.form, call.catalog, "complaint") if exc else None
        items, problems = inputs(call, "complaint", only=step.fields, posted=posted, action="modify", exc=exc,
                                 refs={"responsible_department_id": sorted(departments.items(), key=lambda d: d[1])})
        for item in items:
            item.mark = "required" if item.name in step.required else item.mark
    return call.page("complaints/detail.html", c=c, no=c["customer_no"], complaint_no=no,
                     cells=view.cells(call.principal, columns(call, "complaint"), c), step=step, items=items,
                     problems=problems, statuses=STATUSES, notice=message(exc) if exc and not items else None,
                     on=call.value("on") or today.isoformat(), status=exc.status if exc else 200,
                     can_step=step is not None and may_any(call, "modify", "complaint"))


@router.get("/complaints/{no}")
def complaint_page(call: Web, no: str) -> Response:
    """One complaint: its fields, deadline state, workflow and the form of the next step."""
    return _page(call, no)


@router.post("/complaints/{no}/steps")
def apply_step(call: Web, no: str) -> Response:
    """Apply a workflow step; an invalid one (e.g. from a stale page) shows the service's message."""
    raw_on = call.value("on")
    try:
        on = date.fromisoformat(raw_on) if raw_on else today_local()
    except ValueError:
        on = today_local()
    try:
        call.run("complaint.step", lambda s, ctx: service.step(
            s, ctx, complaint_no=no, name=call.value("step") or None,
            data=forms.parse(call.form, ctx.catalog, "complaint"), today=on), target=no)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _page(call, no, exc=exc)
    return call.redirect(f"/complaints/{no}?ok=saved")
