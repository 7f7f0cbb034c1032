"""Web pages of `kehu.exports`: the export form (from the customer list's filters), the download, my exports."""
from __future__ import annotations

from typing import Annotated, Any, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.customers import repository as customers_repo
from kehu.customers.search import filter_label, filter_names, filter_value
from kehu.errors import Conflict, Forbidden, KehuError, ValidationFailed
from kehu.exports import service
from kehu.exports.api import file_response
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.render import is_htmx
from kehu.web.session import CSRF_CODE, Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
Text = Annotated[Optional[str], Query(max_length=100)]
FORM_FIELDS = ["purpose", "use", "format", "fields", "plaintext"]


def may_export(principal: Principal) -> bool:
    """Whether any export is possible for this principal (the button and the menu entry)."""
    return principal.sees_customers and any(principal.can("export", lvl) for lvl in (1, 2, 3))


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entry: my exports."""
    return [("nav.exports", "/exports")] if may_export(principal) else []


def _form(call: WebCall, posted: dict[str, Any], *, exc: KehuError | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        shown = {k: filter_value(s, ctx, k, v) for k, v in posted["filters"].items()}
        return service.options(s, ctx), shown
    options, shown = call.run("export.options", go)
    problems = forms.problems(exc, FORM_FIELDS) if exc else forms.Problems()
    chosen = set(posted["fields"] or options["default_fields"])
    return call.page("exports/form.html", options=options, posted=posted, chosen=chosen, problems=problems,
                     status=status, labels={k: filter_label(call.catalog, k) for k in posted["filters"]}, shown=shown,
                     back="/customers?" + urlencode({"q": posted["q"], **posted["filters"], "sort": posted["sort"]}))


@router.get("/exports/new")
def new_export(call: Web, q: Text = None, owner_id: Text = None, department_id: Text = None, status: Text = None,
               kind: Text = None, region: Text = None, province: Text = None, importance: Text = None,
               tag: Text = None, grade: Text = None, segment: Text = None, use: Text = None, sort: Annotated[str, Query(max_length=20)] = "new") -> Response:
    """The export form, carrying the customer list's current search, filters and sort."""
    if is_htmx(call.request):  # the list's filter form submits through HTMX: show the form as a page
        return Response(status_code=204, headers={"HX-Redirect": str(call.request.url)})
    values = {"owner_id": owner_id, "department_id": department_id, "status": status, "kind": kind,
              "region": region, "province": province, "importance": importance, "tag": tag, "grade": grade,
              "segment": segment}
    posted = {"q": q or "", "filters": {k: v for k, v in values.items() if v}, "fields": [],
              "sort": sort if sort in customers_repo.SORTS else "new", "purpose": "", "use": use if use in service.USES else "", "format": "xlsx",
              "plaintext": False}
    return _form(call, posted)


def _posted(call: WebCall) -> dict[str, Any]:
    return {"q": call.value("q"), "filters": {k: call.value(k) for k in filter_names() if call.value(k)},
            "sort": call.value("sort") or "new", "fields": call.values("fields"), "purpose": call.value("purpose"),
            "use": call.value("use"), "format": call.value("format"), "plaintext": call.value("plaintext") == "on"}


@router.post("/exports")
def start_export(call: Web) -> Response:
    """Export: the file at once, or — for level-1 plain text — an approval request and its page."""
    posted = _posted(call)
    try:
        outcome = call.run("export.start", lambda s, ctx: service.start(
            s, ctx, q=posted["q"], filters=posted["filters"], sort=posted["sort"], fields=posted["fields"],
            purpose=posted["purpose"], use=posted["use"], fmt=posted["format"], plaintext=posted["plaintext"]))
    except (ValidationFailed, Forbidden, Conflict) as exc:
        if exc.code == CSRF_CODE or not may_export(call.principal):
            raise
        return _form(call, posted, exc=exc, status=exc.status)
    if outcome.plan is None:
        return call.redirect(f"/exports/{outcome.export_id}?ok=approval_requested")
    return file_response(outcome)


@router.get("/exports")
def my_exports(call: Web, before: Annotated[Optional[str], Query(max_length=32)] = None) -> Response:
    """My exports: status, rows, purpose, approval; the download of an approved one."""
    result = call.run("export.list", lambda s, ctx: service.list_(s, ctx, before=before))
    more = f"/exports?before={result['next_before']}" if result["next_before"] else None
    return call.page("exports/list.html", items=result["items"], more=more)


def _detail(call: WebCall, export_id: str, *, error: str | None = None, status: int = 200) -> Response:
    item = call.run("export.read", lambda s, ctx: service.get(s, ctx, export_id=export_id), target=export_id)
    return call.page("exports/detail.html", e=item, error=error, status=status)


@router.get("/exports/{export_id}")
def export_detail(call: Web, export_id: str) -> Response:
    """One of my exports with its approval."""
    return _detail(call, export_id)


@router.post("/exports/{export_id}/download")
def download(call: Web, export_id: str) -> Response:
    """The file of an approved export (once)."""
    try:
        outcome = call.run("export.start", lambda s, ctx: service.download(
            s, ctx, export_id=export_id, fmt=call.value("format") or None), target=export_id)
    except (Forbidden, Conflict, ValidationFailed) as exc:
        if exc.code == CSRF_CODE:
            raise
        return _detail(call, export_id, error=exc.message, status=exc.status)
    return file_response(outcome)
