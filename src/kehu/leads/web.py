"""HTML adapter of leads (商机): the archive's lead tab (stage and stage history, stage changes, new lead)
and the stage definitions for `manage_lead_stages`."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.errors import Forbidden, KehuError, ValidationFailed
from kehu.interactions.service import load_customer
from kehu.interactions.tabs import columns, customers_only, form_page, inputs, may, message, shown_on_form, tab
from kehu.leads import service
from kehu.web import forms, view
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import t
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
LEAD_FORM = ("title", "stage", "expected_amount", "expected_sign_on")


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entry: stage definitions for their managers."""
    return [("nav.lead_stages", "/admin/lead-stages")] if principal.has("manage_lead_stages") else []


def _tab(call: WebCall, no: str, *, failed: str | None = None, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        customers_only(ctx)
        return service.list_(s, ctx, archive_no=no), service.list_stages(s, ctx)["items"]

    found, stages = call.run("lead.list", go, target=no)
    specs = columns(call, "lead", ["title", "stage", "expected_amount", "expected_sign_on"])
    change_specs = columns(call, "lead_change", ["from_stage", "to_stage", "reason"])
    names = {s_["code"]: s_["name"] for s_ in stages}
    leads = [(lead, view.cells(call.principal, specs, lead),
              [(h, view.cells(call.principal, change_specs, h)) for h in lead["history"]]) for lead in found["items"]]
    return tab(call, no, "leads", "leads/_tab.html", leads=leads, specs=specs, change_specs=change_specs,
               stage_names=names, choices=[(s_["code"], s_["name"]) for s_ in stages if s_["active"]],
               can_add=may(call, "create", "lead", "title"), can_move=may(call, "modify", "lead", "stage"),
               failed=failed, notice=message(exc) if exc else None, status=exc.status if exc else 200)


@router.get("/customers/{no}/leads")
def customer_leads(call: Web, no: str) -> Response:
    """Leads of a customer with their stage and stage history."""
    return _tab(call, no)


def _lead_form(call: WebCall, no: str, *, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        customers_only(ctx)
        load_customer(s, ctx, no)
        return service.list_stages(s, ctx)["items"]

    stages = call.run("lead.create", go, target=no)
    posted = forms.parse(call.form, call.catalog, "lead") if exc else None
    items, problems = inputs(call, "lead", only=LEAD_FORM, posted=posted, exc=exc)
    return form_page(call, title=t("flow.lead.new"), action=f"/customers/{no}/lead", back=f"/customers/{no}/leads",
                     items=items, problems=problems, no=no, status=exc.status if exc else 200,
                     selects={"stage": [(s_["code"], s_["name"]) for s_ in stages if s_["active"]]})


@router.get("/customers/{no}/lead")
def lead_form(call: Web, no: str) -> Response:
    """The form of a new lead."""
    return _lead_form(call, no)


@router.post("/customers/{no}/lead")
def lead_add(call: Web, no: str) -> Response:
    """Record a lead (stage defaults to the first active stage)."""
    try:
        call.run("lead.create", lambda s, ctx: service.add(s, ctx, archive_no=no, data=forms.parse(
            call.form, ctx.catalog, "lead")), target=no)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _lead_form(call, no, exc=exc)
    return call.redirect(f"/customers/{no}/leads?ok=created")


@router.post("/customers/{no}/leads/{lead_id}/stage")
def change_stage(call: Web, no: str, lead_id: str) -> Response:
    """Move a lead to another stage (kept in its stage history)."""
    def go(s, ctx):
        load_customer(s, ctx, no)
        return service.change_stage(s, ctx, lead_id=lead_id, stage=call.value("stage"),
                                    reason=call.value("reason") or None)

    try:
        found = call.run("lead.stage", go, target=lead_id)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _tab(call, no, failed=lead_id, exc=exc)
    if found["archive_no"] != no:  # the lead belongs to another customer of the caller's scope
        return call.redirect(f"/customers/{found['archive_no']}/leads?ok=saved")
    return call.redirect(f"/customers/{no}/leads?ok=saved#lead-{lead_id}")


# --- stage definitions (manage_lead_stages) ---------------------------------------------------------

def _stages_page(call: WebCall, *, failed: str | None = None, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        if not ctx.principal.has("manage_lead_stages"):
            raise Forbidden()
        return service.list_stages(s, ctx)["items"]

    stages = call.run("lead.stages", go)
    errors = {e.field: e.message for e in exc.errors} if isinstance(exc, ValidationFailed) else {}
    return call.page("leads/stages.html", stages=stages, failed=failed, errors=errors,
                     notice=message(exc) if exc and not errors else None, status=exc.status if exc else 200,
                     posted={k: call.value(k) for k in ("code", "name", "sort_order", "description")})


@router.get("/admin/lead-stages")
def stages(call: Web) -> Response:
    """Lead stage definitions: change name, order, description, active; add a stage."""
    return _stages_page(call)


@router.post("/admin/lead-stages")
def put_stage(call: Web) -> Response:
    """Create or change one stage definition (stages are deactivated, never deleted)."""
    code = call.value("code").strip().upper()
    order = call.value("sort_order").strip()
    data = {"name": call.value("name") or None, "description": call.value("description") or None,
            "sort_order": int(order) if order.isdigit() else (order or None),
            "active": call.value("active") == "true" if call.value("active") else None}
    try:
        call.run("lead.stage_definition", lambda s, ctx: service.put_stage(s, ctx, code=code, data=data), target=code)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _stages_page(call, failed=call.value("form") or "new", exc=exc)
    return call.redirect("/admin/lead-stages?ok=saved")
