"""HTML adapter of the audit trail (审计员): filtered log and the chain verification status."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.audit import service
from kehu.errors import FieldError, ValidationFailed
from kehu.kit import validate as v
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import local_tz
from kehu.web.render import entity_label, hx_target
from kehu.web.session import Web

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
PAGE_SIZE = 50
Text = Annotated[Optional[str], Query(max_length=60)]


def _day(text: str | None, field: str) -> date | None:
    """A day from a date input ('' when left empty)."""
    if not text:
        return None
    try:
        return v.a_date(text)
    except v.Invalid as exc:
        raise ValidationFailed([FieldError(field, exc.code, exc.message)]) from None


def _start_of(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=local_tz()) if day else None


def _field_label(catalog, key: str) -> str:
    """'手机' for customer.mobile, '联系人·手机' for contact.mobile; the key itself when undeclared."""
    spec = catalog.fields.get(key)
    if spec is None:
        return key
    return spec.label if spec.entity == "customer" else f"{entity_label(spec.entity)}\u00b7{spec.label}"


@router.get("/audit")
def audit(call: Web, user: Text = None, customer_no: Annotated[Optional[str], Query(max_length=20)] = None,
          action: Annotated[Optional[str], Query(max_length=40)] = None,
          since: Annotated[Optional[str], Query(max_length=10)] = None,
          until: Annotated[Optional[str], Query(max_length=10)] = None, before: Optional[int] = None) -> Response:
    """Entries newest first, filtered by user, customer, action and day range (days in local time)."""
    first, last = _day(since, "since"), _day(until, "until")
    end = _start_of(last + timedelta(days=1)) if last else None
    result = call.run("audit.query", lambda s, ctx: service.query(
        s, ctx, user=user or None, customer_no=customer_no or None, action=action or None,
        since=_start_of(first), until=end, before=before, limit=PAGE_SIZE))
    for item in result["items"]:
        item["field_labels"] = [_field_label(call.catalog, key) for key in item["fields"]]
    params = {k: v for k, v in {"user": user, "customer_no": customer_no, "action": action,
                                "since": since, "until": until}.items() if v}
    more = "/audit?" + urlencode({**params, "before": result["next_before"]}) if result["next_before"] else None
    template = "audit/_rows.html" if hx_target(call.request) == "audit-more" else "audit/list.html"
    return call.page(template, items=result["items"], more=more, params=params)


@router.get("/audit/verify")
def verify(call: Web) -> Response:
    """The verification of the whole chain (loaded after the page, as it reads every entry)."""
    return call.page("audit/_verify.html", result=call.run("audit.verify", lambda s, ctx: service.verify(s, ctx)))
