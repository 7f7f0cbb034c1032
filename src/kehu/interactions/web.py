"""HTML adapter of follow-ups and communications: the archive's timeline tab and the two entry forms."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.customers import service as customers
from kehu.errors import KehuError
from kehu.interactions import service
from kehu.interactions.tabs import columns, customers_only, form_page, inputs, may_any, shown_on_form, tab
from kehu.web import forms, view
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import local_tz, t
from kehu.web.render import today_local
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
PAGE_SIZE = 20
ENTITIES = ("followup", "communication")


@router.get("/customers/{no}/timeline")
def timeline(call: Web, no: str, cursor: Annotated[Optional[str], Query(max_length=200)] = None) -> Response:
    """Follow-ups and communications of a customer, newest first (keyset pages)."""
    def go(s, ctx):
        customers_only(ctx)
        return service.timeline(s, ctx, archive_no=no, cursor=cursor, limit=PAGE_SIZE)

    page = call.run("customer.timeline", go, target=no)
    specs = {e: columns(call, e) for e in ENTITIES}
    entries = [(item, view.cells(call.principal, specs[item["type"]], item)) for item in page["items"]]
    more = f"/customers/{no}/timeline?" + urlencode({"cursor": page["next_cursor"]}) if page["next_cursor"] else None
    return tab(call, no, "timeline", "interactions/_timeline.html", entries=entries, more=more,
               can_add={e: may_any(call, "create", e) for e in ENTITIES})


def _contacts(call: WebCall, no: str) -> list[tuple[str, str]]:
    """The customer's contacts as choices (names as the viewer may see them); 404 outside the scope."""
    def go(s, ctx):
        customers_only(ctx)
        return customers.get(s, ctx, archive_no=no)

    data = call.run("customer.read", go, target=no)
    return [(c["id"], c.get("name") or t("common.none")) for c in data.get("contacts", [])]


def _form(call: WebCall, no: str, entity: str, *, exc: KehuError | None = None) -> Response:
    contacts = _contacts(call, no)
    now = datetime.now(local_tz())
    defaults = {"followed_at": now.strftime("%Y-%m-%d %H:%M"), "communicated_on": today_local().isoformat()}
    posted = forms.parse(call.form, call.catalog, entity) if exc else None
    items, problems = inputs(call, entity, posted=posted, defaults=defaults, exc=exc)
    return form_page(call, title=t(f"flow.{entity}.new"), action=f"/customers/{no}/{entity}",
                     back=f"/customers/{no}/timeline", items=items, problems=problems, no=no,
                     selects={"contact_id": contacts}, status=exc.status if exc else 200)


@router.get("/customers/{no}/followup")
def followup_form(call: Web, no: str) -> Response:
    """The form of a new follow-up (跟进记录)."""
    return _form(call, no, "followup")


@router.get("/customers/{no}/communication")
def communication_form(call: Web, no: str) -> Response:
    """The form of new communication minutes (沟通纪要)."""
    return _form(call, no, "communication")


def _add(call: WebCall, no: str, entity: str) -> Response:
    try:
        call.run(f"{entity}.create", lambda s, ctx: service.add(
            s, ctx, archive_no=no, entity=entity, data=forms.parse(call.form, ctx.catalog, entity)), target=no)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _form(call, no, entity, exc=exc)
    return call.redirect(f"/customers/{no}/timeline?ok=created")


@router.post("/customers/{no}/followup")
def followup_add(call: Web, no: str) -> Response:
    """Record a follow-up; a refused form comes back filled with the messages."""
    return _add(call, no, "followup")


@router.post("/customers/{no}/communication")
def communication_add(call: Web, no: str) -> Response:
    """Record communication minutes."""
    return _add(call, no, "communication")
