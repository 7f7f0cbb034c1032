"""HTML adapter of satisfaction surveys: the archive's survey tab (send, answer) and questionnaire management."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.complaints import service as complaints
from kehu.errors import Forbidden, KehuError, NotFound, ValidationFailed
from kehu.interactions.service import load_customer
from kehu.interactions.tabs import columns, customers_only, message, shown_on_form, tab
from kehu.surveys import service
from kehu.surveys.models import LEVELS
from kehu.web import view
from kehu.web.errors import HtmlRoute
from kehu.web.render import today_local
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
ITEM_ROWS = 8
SURVEY_COLUMNS = ["trigger", "status", "sent_on", "answered_on", "overall_score", "comment"]


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entry: questionnaires for their managers."""
    return [("nav.surveys", "/admin/surveys")] if principal.has("manage_surveys") else []


def _tab(call: WebCall, no: str, *, exc: KehuError | None = None) -> Response:
    today = today_local()

    def go(s, ctx):
        customers_only(ctx)
        load_customer(s, ctx, no)
        return (service.list_for_customer(s, ctx, customer_no=no), service.list_templates(s, ctx),
                complaints.list_(s, ctx, today=today, customer_no=no, limit=100)["items"])

    found, templates, open_complaints = call.run("survey.list", go, target=no)
    specs = columns(call, "survey", SURVEY_COLUMNS)
    surveys = [(s_, view.cells(call.principal, specs, s_)) for s_ in found["items"]]
    return tab(call, no, "surveys", "surveys/_tab.html", surveys=surveys, specs=specs,
               templates=[(x["code"], x["name"]) for x in templates if x["active"]],
               complaint_choices=[(c["complaint_no"], c["complaint_no"]) for c in open_complaints],
               notice=message(exc) if exc else None, status=exc.status if exc else 200)


@router.get("/customers/{no}/surveys")
def customer_surveys(call: Web, no: str) -> Response:
    """Surveys of a customer with the per-item scores; send a questionnaire."""
    return _tab(call, no)


@router.post("/customers/{no}/survey")
def send(call: Web, no: str) -> Response:
    """Send a questionnaire to the customer (optionally for one of its complaints)."""
    try:
        call.run("survey.send", lambda s, ctx: service.send(
            s, ctx, customer_no=no, template=call.value("template") or None,
            complaint_no=call.value("complaint_no") or None, today=today_local()), target=no)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _tab(call, no, exc=exc)
    return call.redirect(f"/customers/{no}/surveys?ok=created")


def _answer_form(call: WebCall, no: str, survey_id: str, *, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        customers_only(ctx)
        found = service.list_for_customer(s, ctx, customer_no=no)
        return found, service.list_templates(s, ctx)

    found, templates = call.run("survey.list", go, target=no)
    survey = next((x for x in found["items"] if x["id"] == survey_id), None)
    template = next((x for x in templates if survey and x["code"] == survey["template"]), None)
    if survey is None or template is None:
        raise NotFound()
    errors = {e.field.removeprefix("answers."): e.message for e in exc.errors} \
        if isinstance(exc, ValidationFailed) else {}
    return call.page("surveys/answer.html", no=no, survey=survey, questionnaire=template, errors=errors,
                     levels=[(str(score), label) for _k, label, score in LEVELS],
                     posted={i["code"]: call.value("a-" + i["code"]) for i in template["items"]},
                     comment=call.value("comment"), notice=message(exc) if exc and not errors else None,
                     status=exc.status if exc else 200)


@router.get("/customers/{no}/surveys/{survey_id}/answer")
def answer_form(call: Web, no: str, survey_id: str) -> Response:
    """Record the customer's answers: each item on the five levels, and a comment."""
    return _answer_form(call, no, survey_id)


@router.post("/customers/{no}/surveys/{survey_id}/answer")
def answer(call: Web, no: str, survey_id: str) -> Response:
    """Save the answers; every missing or invalid item is named."""
    codes = [k[2:] for k in (call.form.keys() if call.form is not None else []) if k.startswith("a-")]
    answers: dict[str, Any] = {c: call.value("a-" + c) for c in codes if call.value("a-" + c)}

    def go(s, ctx):
        load_customer(s, ctx, no)
        return service.answer(s, ctx, survey_id=survey_id, answers=answers,
                              comment=call.value("comment") or None, today=today_local())

    try:
        call.run("survey.answer", go, target=survey_id)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _answer_form(call, no, survey_id, exc=exc)
    return call.redirect(f"/customers/{no}/surveys?ok=saved")


# --- questionnaires (manage_surveys) -------------------------------------------------------------

def _templates_page(call: WebCall, *, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        if not ctx.principal.has("manage_surveys"):
            raise Forbidden()
        return service.list_templates(s, ctx)

    templates = call.run("survey_template.list", go)
    errors = {e.field: e.message for e in exc.errors} if isinstance(exc, ValidationFailed) else {}
    rows_ = [{"code": call.value(f"item-{i}-code"), "label": call.value(f"item-{i}-label")} for i in range(ITEM_ROWS)]
    return call.page("surveys/templates.html", templates=templates, errors=errors, item_rows=rows_,
                     code=call.value("code"), name=call.value("name"),
                     notice=message(exc) if exc and not errors else None, status=exc.status if exc else 200)


@router.get("/admin/surveys")
def templates(call: Web) -> Response:
    """Questionnaires with their items; a new questionnaire; (de)activate."""
    return _templates_page(call)


@router.post("/admin/surveys")
def template_add(call: Web) -> Response:
    """Create a questionnaire from the filled item rows."""
    items = [{"code": call.value(f"item-{i}-code"), "label": call.value(f"item-{i}-label")}
             for i in range(ITEM_ROWS) if call.value(f"item-{i}-code") or call.value(f"item-{i}-label")]
    try:
        call.run("survey_template.create", lambda s, ctx: service.create_template(
            s, ctx, data={"code": call.value("code"), "name": call.value("name"), "items": items}))
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _templates_page(call, exc=exc)
    return call.redirect("/admin/surveys?ok=created")


@router.post("/admin/surveys/{code}/active")
def template_active(call: Web, code: str) -> Response:
    """Activate or deactivate a questionnaire."""
    active = call.value("active") == "true"
    call.run("survey_template.update", lambda s, ctx: service.update_template(s, ctx, code=code,
                                                                              data={"active": active}), target=code)
    return call.redirect("/admin/surveys?ok=saved")
