"""Web pages of `kehu.consent`: the archive's consent tab (state, history, grant, withdraw) and the consent
part of collection forms (`fields_context` / `parse_form`, used by the customer and intake forms)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from kehu.consent import service
from kehu.consent.models import GUARDIAN_RELATIONS
from kehu.customers.models import CHANNELS
from kehu.errors import ValidationFailed
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.render import hx_target
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
#: Names of the consent inputs on a collection form (service errors are named `consent.<part>`).
PREFIX = "consent_"
ERROR_FIELDS = ("consent.purposes", "consent.channel", "consent.notice_version", "consent.scope",
                "consent.guardian_name", "consent.guardian_relation", "consent.note")


def parse_form(form: FormData | None, *, optional: bool = False) -> dict[str, Any] | None:
    """The consent posted with a collection form; None when `optional` and nothing was ticked."""
    if form is None:
        return None
    purposes = [v for v in form.getlist(PREFIX + "purposes") if isinstance(v, str)]
    sensitive = form.get(PREFIX + "sensitive") == "yes"
    if optional and not purposes and not sensitive:
        return None
    text = {k: form.get(PREFIX + k) for k in ("channel", "notice_version", "guardian_name", "guardian_relation")}
    return {"purposes": purposes, "sensitive": sensitive,
            **{k: v for k, v in text.items() if isinstance(v, str) and v.strip()}}


def fields_context(options: dict[str, Any], *, posted: FormData | None = None, default_channel: str = "visit",
                   default_purposes: tuple[str, ...] = ("service",), channels: bool = True,
                   offered: list[str] | None = None) -> dict[str, Any]:
    """Template context of the consent fieldset: purposes, channels, notice, guardian, what is ticked."""
    purposes = [(c, n) for c, n in options["purposes"] if offered is None or c in offered]
    if posted is not None:
        ticked = set(posted.getlist(PREFIX + "purposes"))
        values = {k: posted.get(PREFIX + k) or "" for k in ("channel", "guardian_name", "guardian_relation")}
        sensitive = posted.get(PREFIX + "sensitive") == "yes"
    else:
        ticked, values, sensitive = set(default_purposes), {"channel": default_channel}, False
    return {"purposes": purposes, "ticked": ticked, "values": values, "sensitive": sensitive,
            "channels": CHANNELS if channels else (), "relations": GUARDIAN_RELATIONS, "notice": options["notice"],
            "prefix": PREFIX}


def _tab(call: WebCall, no: str, *, problems: forms.Problems | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        return service.overview(s, ctx, archive_no=no), service.form_options(s)

    data, options = call.run("consent.read", go, target=no)
    template = "consent/_tab.html" if hx_target(call.request) == "tab-panel" else "consent/tab.html"
    return call.page(template, no=no, tab="consent", d=data, problems=problems or forms.Problems(),
                     consent=fields_context(options, posted=call.form if problems else None, default_purposes=()),
                     status=status, reason=call.value("reason"))


@router.get("/customers/{no}/consent")
def tab(call: Web, no: str) -> Response:
    """The archive's consent: state per purpose, the sensitive consent, every grant and withdrawal."""
    return _tab(call, no)


def _post(call: WebCall, no: str, action: str, fn) -> Response:
    try:
        call.run(action, fn, target=no)
    except ValidationFailed as exc:
        return _tab(call, no, problems=forms.problems(exc, ["purposes", "sensitive", "reason", *ERROR_FIELDS]),
                    status=exc.status)
    return call.redirect(f"/customers/{no}/consent?ok=saved")


@router.post("/customers/{no}/consent/withdraw")
def withdraw(call: Web, no: str) -> Response:
    """Record the customer's withdrawal (some purposes, the sensitive consent, or everything)."""
    everything = call.value("all") == "yes"
    return _post(call, no, "consent.withdraw", lambda s, ctx: service.withdraw(
        s, ctx, archive_no=no, purposes=None if everything else call.values("purposes"),
        sensitive=call.value("sensitive") == "yes", reason=call.value("reason")))


@router.post("/customers/{no}/consent/grant")
def grant(call: Web, no: str) -> Response:
    """Record a further consent of the customer."""
    return _post(call, no, "consent.grant", lambda s, ctx: service.grant(
        s, ctx, archive_no=no, consent=parse_form(call.form) or {}))
