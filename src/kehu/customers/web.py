"""HTML adapter of the archive: list, detail, reveal, history, print card, create/edit forms, child records.

Each handler runs one service call as the signed-in user and renders; a refused form is shown again,
filled, with the service's messages (re-reading the archive for the field states when needed).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access import policy
from kehu.access.principal import Principal
from kehu.access.web import assignable
from kehu.catalog.registry import Catalog
from kehu.consent import service as consent
from kehu.consent import web as consent_web
from kehu.customers import children, likely, service
from kehu.customers import repository as repo
from kehu.errors import Conflict, Forbidden, KehuError, NotFound, ValidationFailed
from kehu.runtime import Ctx
from kehu.tags import service as tag_service
from kehu.web import forms, view
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import t
from kehu.web.render import hx_target, is_htmx
from kehu.web.session import CSRF_CODE, Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
PAGE_SIZE = 20
#: Refusals shown on the form that was submitted (a failed CSRF check is not one of them).
REFUSALS = (ValidationFailed, Conflict, Forbidden)
PLURALS = {plural: entity for entity, (_model, plural) in service.CHILDREN.items()}
Text = Annotated[Optional[str], Query(max_length=100)]


def _shown_on_form(exc: KehuError) -> bool:
    """A refusal that belongs on the form (not a failed CSRF check)."""
    return exc.code != CSRF_CODE


def _may_any(principal: Principal, catalog: Catalog, action: str, entity: str, *, minor: bool = False) -> bool:
    """Whether any writable field of the entity allows this action (to offer the button at all)."""
    return any(policy.may(principal, action, s, minor=minor) for s in catalog.writable(entity))


def _customers_only(ctx: Ctx) -> None:
    """Pages about customers do not exist for users who see none (administrator, auditor)."""
    if not ctx.principal.sees_customers:
        raise NotFound()


def _entity(plural: str) -> str:
    if plural not in PLURALS:
        raise NotFound()
    return PLURALS[plural]


def _child(data: dict[str, Any], plural: str, record_id: str) -> dict[str, Any]:
    found = next((r for r in data.get(plural, []) if r["id"] == record_id), None)
    if found is None:
        raise NotFound()
    return found


def _read(call: WebCall, no: str, *, plural: str | None = None, with_refs: bool = False):
    """The archive as this user sees it (audited read), plus the assignable references and consent options."""
    def go(s, ctx):
        if plural is not None:
            _entity(plural)
        data = service.get(s, ctx, archive_no=no)
        return (data, assignable(s, ctx.principal), consent.form_options(s)) if with_refs else data
    return call.run("customer.read", go, target=no)


# --- list -------------------------------------------------------------------------------

@router.get("/customers")
def listing(call: Web, q: Text = None, owner_id: Text = None, department_id: Text = None, status: Text = None,
            kind: Text = None, region: Text = None, sort: str = "new", tag: Text = None, grade: Text = None,
            segment: Text = None, cursor: Annotated[Optional[str], Query(max_length=400)] = None) -> Response:
    """Customers in scope: search, filters (also by tag and grade), sort, keyset pages ("load more"; no total count)."""
    filters = {"owner_id": owner_id, "department_id": department_id, "status": status, "kind": kind,
               "region": region, "tag": tag, "grade": grade, "segment": segment}

    def go(s, ctx):
        _customers_only(ctx)
        page = service.list_(s, ctx, q=q, filters=filters, sort=sort, cursor=cursor, limit=PAGE_SIZE)
        chips = tag_service.chips_by_archive(s, ctx.principal, [i["archive_no"] for i in page["items"]])
        return page, assignable(s, ctx.principal), chips, tag_service.filter_options(s)

    page, refs, chips, tag_options = call.run("customer.list", go)
    columns = view.visible_columns(call.catalog, call.principal, "customer", service.LIST_FIELDS)
    rows = [(item, view.cells(call.principal, columns, item)) for item in page["items"]]
    params = {k: v for k, v in {"q": q, **filters, "sort": sort}.items() if v}
    more = "/customers?" + urlencode({**params, "cursor": page["next_cursor"]}) if page["next_cursor"] else None
    template = {"more": "customers/_rows.html", "results": "customers/_results.html"}.get(
        hx_target(call.request) or "", "customers/list.html")
    return call.page(template, rows=rows, columns=columns, more=more, q=q or "", filters=filters, sort=sort,
                     sorts=list(repo.SORTS), refs=refs, status_spec=call.catalog.get("customer", "status"),
                     chips=chips, tag_options=tag_options,
                     kind_spec=call.catalog.get("customer", "kind"),
                     can_create=_may_any(call.principal, call.catalog, "create", "customer"))


# --- detail, history, card, reveal ------------------------------------------------------------

def _archive(call: WebCall, data: dict[str, Any], *, keep_empty: bool = False) -> dict[str, Any]:
    """Template context of an archive: sections of fields and tables of child records."""
    p, cat, minor = call.principal, call.catalog, data["minor"]
    kids = []
    for entity, (_model, plural) in service.CHILDREN.items():
        columns = view.visible_columns(cat, p, entity, minor=minor)
        kids.append({"entity": entity, "plural": plural, "columns": columns,
                     "rows": [(r, view.cells(p, columns, r, minor=minor, record_id=r["id"])) for r in data[plural]],
                     "can_add": _may_any(p, cat, "modify", entity, minor=minor),
                     "can_delete": _may_any(p, cat, "delete", entity, minor=minor)})
    return {"c": data, "no": data["archive_no"], "minor": minor, "children": kids,
            "sections": view.sections(cat, p, data, minor=minor, keep_empty=keep_empty,
                                      skip=forms.kind_fields(data.get("kind"))),
            "can_edit": _may_any(p, cat, "modify", "customer", minor=minor)}


@router.get("/customers/new")
def new_form(call: Web, kind: str = "individual") -> Response:
    """The create form for one kind of customer."""
    def go(s, ctx):
        _customers_only(ctx)
        if not _may_any(ctx.principal, ctx.catalog, "create", "customer"):
            raise NotFound()
        return assignable(s, ctx.principal), consent.form_options(s)
    refs, options = call.run("customer.create", go)
    kinds = dict(call.catalog.get("customer", "kind").choices)
    return _customer_form(call, kind=kind if kind in kinds else next(iter(kinds)), refs=refs, options=options)


@router.get("/customers/likely")
def likely_duplicates(call: Web, name: Text = None, mobile: Text = None, city: Text = None, district: Text = None,
                      street: Annotated[Optional[str], Query(max_length=200)] = None) -> Response:
    """HTMX panel of the create form: archives in scope that may be the same customer (kehu.customers.likely)."""
    data = {"name": name, "mobile": mobile, "city": city, "district": district, "street": street}
    found = call.run("customer.likely_duplicates", lambda s, ctx: likely.find(s, ctx, data=data))
    return call.page("customers/_likely.html", found=found)


@router.get("/customers/{no}")
def detail(call: Web, no: str) -> Response:
    """One archive (with its tag and grade chips); masked values offer a reveal where the user holds the right."""
    data, chips = call.run("customer.read", lambda s, ctx: (service.get(s, ctx, archive_no=no),
                                                           tag_service.chips_by_archive(s, ctx.principal, [no])), target=no)
    return call.page("customers/detail.html", tab="archive", ch=chips.get(no), **_archive(call, data))


@router.get("/customers/{no}/card")
def card(call: Web, no: str) -> Response:
    """The printable customer information card (客户信息卡), masked as on screen."""
    data = _read(call, no)
    return call.page("customers/card.html", printed_at=datetime.now(timezone.utc),
                     **_archive(call, data, keep_empty=True))


@router.get("/customers/{no}/history")
def history(call: Web, no: str, before: Optional[int] = None) -> Response:
    """Change history: who, when, what (old → new, masked per rights), why."""
    result = call.run("customer.history", lambda s, ctx: service.history(s, ctx, archive_no=no, before=before),
                      target=no)
    for item in result["items"]:
        spec = call.catalog.fields.get(f"{item['entity']}.{item['field']}")  # None for the creation row
        for key in ("old_value", "new_value"):
            value = item[key]
            item[key + "_text"] = view.display(spec, value) if item["state"] == "plain" and spec else value
    more = f"/customers/{no}/history?before={result['next_before']}" if result["next_before"] else None
    template = {"tab-panel": "customers/_history.html", "history-more": "customers/_history_rows.html"}.get(
        hx_target(call.request) or "", "customers/history.html")
    return call.page(template, no=no, items=result["items"], more=more, tab="history")


@router.post("/customers/{no}/reveal")
def reveal(call: Web, no: str) -> Response:
    """Show one masked value in full for a stated reason (audited), for `reveal_seconds`."""
    name, entity, record_id = call.value("field"), call.value("entity") or "customer", call.value("record_id")
    try:
        result = call.run("customer.reveal", lambda s, ctx: service.reveal(
            s, ctx, archive_no=no, fields=[name], reason=call.value("reason"), entity=entity,
            record_id=record_id or None), target=no)
    except (ValidationFailed, Forbidden) as exc:
        if not _shown_on_form(exc):
            raise
        message = t("common.list_sep").join(e.message for e in exc.errors) \
            if isinstance(exc, ValidationFailed) else exc.message
        if is_htmx(call.request):
            return call.page("customers/_reveal_error.html", message=message,
                             headers={"HX-Retarget": "#reveal-error", "HX-Reswap": "innerHTML"})
        return call.page("customers/reveal.html", no=no, error=message, status=exc.status)
    spec = call.catalog.get(entity, name)
    context = {"no": no, "label": spec.label, "text": view.display(spec, result["values"].get(name)),
               "seconds": result["expires_in"]}
    if is_htmx(call.request):
        return call.page("customers/_revealed.html", **context, headers={
            "HX-Retarget": "#" + view.dom_id(spec, record_id or None), "HX-Reswap": "innerHTML",
            "HX-Trigger": "kehu-revealed"})
    return call.page("customers/reveal.html", **context)


# --- create and edit ------------------------------------------------------------------------

def _customer_form(call: WebCall, *, kind: str, refs: dict, options: dict, record: dict | None = None,
                   posted: dict | None = None, exc: KehuError | None = None, status: int = 200) -> Response:
    items = forms.inputs(call.catalog, call.principal, "customer", record=record, kind=kind,
                         minor=bool(record and record["minor"]), posted=posted, refs=refs,
                         cleared=frozenset(call.values(forms.CLEAR_FIELD)))
    problems = forms.place_problems(items, exc, (("reason",) if record else ()) + consent_web.ERROR_FIELDS)
    groups = [(key, [i for i in items if view.section_of(i.spec) == key]) for key, _ in view.SECTIONS]
    return call.page("customers/form.html", kind=kind, kind_spec=call.catalog.get("customer", "kind"),
                     groups=[g for g in groups if g[1]], problems=problems, record=record, status=status,
                     reason=call.value("reason"), consent=consent_web.fields_context(
                         options, posted=call.form if exc else None, default_purposes=() if record else ("service",)))


@router.post("/customers/new")
def create(call: Web) -> Response:
    """Create an archive; a refused form comes back filled with the messages."""
    kind = call.value("kind")
    try:
        no = call.run("customer.create", lambda s, ctx: service.create(s, ctx, data={
            "kind": kind, **forms.parse(call.form, ctx.catalog, "customer", kind=kind),
            "consent": consent_web.parse_form(call.form)}).archive_no)
    except REFUSALS as exc:
        if not _shown_on_form(exc):
            raise
        refs, options = call.run("customer.create", lambda s, ctx: (assignable(s, ctx.principal),
                                                                     consent.form_options(s)))
        return _customer_form(call, kind=kind, refs=refs, options=options, exc=exc, status=exc.status,
                              posted=forms.parse(call.form, call.catalog, "customer", kind=kind))
    return call.redirect(f"/customers/{no}?ok=created")


@router.get("/customers/{no}/edit")
def edit_form(call: Web, no: str) -> Response:
    """The edit form: masked values stay masked, fields without the modify right are read-only."""
    data, refs, options = _read(call, no, with_refs=True)
    return _customer_form(call, kind=data["kind"], refs=refs, options=options, record=data)


@router.post("/customers/{no}/edit")
def update(call: Web, no: str) -> Response:
    """Save changes with the stated reason (recorded in the change history)."""
    kind, version = call.value("kind"), call.value("version")
    try:
        call.run("customer.update", lambda s, ctx: service.update(
            s, ctx, archive_no=no, data={**forms.parse(call.form, ctx.catalog, "customer", kind=kind),
                                         "consent": consent_web.parse_form(call.form, optional=True)},
            reason=call.value("reason"), version=int(version) if version.isdigit() else None), target=no)
    except REFUSALS as exc:
        if not _shown_on_form(exc):
            raise
        data, refs, options = _read(call, no, with_refs=True)
        return _customer_form(call, kind=data["kind"], refs=refs, options=options, record=data, exc=exc,
                              status=exc.status,
                              posted=forms.parse(call.form, call.catalog, "customer", kind=data["kind"]))
    return call.redirect(f"/customers/{no}?ok=saved")


# --- child records (contacts, addresses, anniversaries, associated people) ------------------------

def _child_form(call: WebCall, data: dict, plural: str, *, record: dict | None = None, posted: dict | None = None,
                exc: KehuError | None = None, status: int = 200) -> Response:
    entity = PLURALS[plural]
    items = forms.inputs(call.catalog, call.principal, entity, record=record, minor=data["minor"], posted=posted,
                         action="modify", cleared=frozenset(call.values(forms.CLEAR_FIELD)))
    problems = forms.place_problems(items, exc, ("reason",))
    return call.page("customers/child_form.html", entity=entity, plural=plural, no=data["archive_no"], c=data,
                     items=items, record=record, problems=problems, status=status, reason=call.value("reason"))


def _child_write(call: WebCall, no: str, plural: str, verb: str, write, *, record_id: str | None = None,
                 page: str = "form") -> Response:
    """Run a child write; on refusal re-read the archive and show the form (or delete page) again."""
    entity = PLURALS.get(plural, "child")
    try:
        call.run(f"{entity}.{verb}", lambda s, ctx: write(s, ctx, _entity(plural)), target=no)
    except REFUSALS as exc:
        if not _shown_on_form(exc):
            raise
        data = _read(call, no, plural=plural)
        record = _child(data, plural, record_id) if record_id else None
        if page == "delete":
            return _delete_page(call, data, plural, record, exc=exc)
        return _child_form(call, data, plural, record=record, exc=exc, status=exc.status,
                           posted=forms.parse(call.form, call.catalog, entity))
    flash = {"create": "created", "update": "saved", "delete": "deleted"}[verb]
    return call.redirect(f"/customers/{no}?ok={flash}#{plural}")


@router.get("/customers/{no}/{plural}/new")
def child_new(call: Web, no: str, plural: str) -> Response:
    """Form for a new contact / address / anniversary / associated person."""
    return _child_form(call, _read(call, no, plural=plural), plural)


@router.post("/customers/{no}/{plural}/new")
def child_add(call: Web, no: str, plural: str) -> Response:
    """Add a child record."""
    return _child_write(call, no, plural, "create", lambda s, ctx, entity: children.add(
        s, ctx, archive_no=no, entity=entity, data=forms.parse(call.form, ctx.catalog, entity),
        reason=call.value("reason") or None))


@router.get("/customers/{no}/{plural}/{record_id}/edit")
def child_edit_form(call: Web, no: str, plural: str, record_id: str) -> Response:
    """Form to change a child record."""
    data = _read(call, no, plural=plural)
    return _child_form(call, data, plural, record=_child(data, plural, record_id))


@router.post("/customers/{no}/{plural}/{record_id}/edit")
def child_update(call: Web, no: str, plural: str, record_id: str) -> Response:
    """Change a child record (reason required)."""
    return _child_write(call, no, plural, "update", lambda s, ctx, entity: children.update(
        s, ctx, archive_no=no, entity=entity, record_id=record_id,
        data=forms.parse(call.form, ctx.catalog, entity), reason=call.value("reason")), record_id=record_id)


def _delete_page(call: WebCall, data: dict, plural: str, record: dict, *, exc: KehuError | None = None) -> Response:
    entity = PLURALS[plural]
    columns = view.visible_columns(call.catalog, call.principal, entity, minor=data["minor"])
    problems = forms.problems(exc, ["reason"]) if exc else forms.Problems()
    return call.page("customers/child_delete.html", entity=entity, plural=plural, no=data["archive_no"],
                     record=record, cells=view.cells(call.principal, columns, record, minor=data["minor"]),
                     problems=problems, status=exc.status if exc else 200, reason=call.value("reason"))


@router.get("/customers/{no}/{plural}/{record_id}/delete")
def child_delete_form(call: Web, no: str, plural: str, record_id: str) -> Response:
    """Ask for the reason before deleting a child record."""
    data = _read(call, no, plural=plural)
    return _delete_page(call, data, plural, _child(data, plural, record_id))


@router.post("/customers/{no}/{plural}/{record_id}/delete")
def child_delete(call: Web, no: str, plural: str, record_id: str) -> Response:
    """Delete a child record (its values stay in the change history)."""
    return _child_write(call, no, plural, "delete", lambda s, ctx, entity: children.delete(
        s, ctx, archive_no=no, entity=entity, record_id=record_id, reason=call.value("reason")),
        record_id=record_id, page="delete")
