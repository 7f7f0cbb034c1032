"""Web pages of `kehu.intake`: the public collection form (no login), the review queue and channel registration.

The public form is anonymous: it is protected against cross-site posting by a signed form token
(itsdangerous, the key ring's session key) bound to a nonce cookie, and rate-limited per address.
"""
from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData

from kehu.access.principal import Principal
from kehu.consent import service as consent
from kehu.consent import web as consent_web
from kehu.customers.models import CHANNELS
from kehu.edge import client_ip
from kehu.errors import Conflict, Forbidden, KehuError, ValidationFailed
from kehu.intake import service
from kehu.intake.ratelimit import RateLimited, limiter_of
from kehu.web import forms
from kehu.web.auth import read_form
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import t
from kehu.web.render import render
from kehu.web.session import CSRF_CODE, Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
NONCE_COOKIE = "kehu_collect"
TOKEN_AGE = 2 * 3600  # seconds a public form stays valid
#: Fields a reviewer is offered to correct besides the channel's own (the archive's required ones).
REVIEW_EXTRA = ("name", "mobile", "landline", "street")


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entries: the review queue for reviewers, the channels for their administrators."""
    items = []
    if principal.has(service.REVIEW) and principal.sees_customers:
        items.append(("nav.intake_queue", "/intake"))
    if principal.has(service.MANAGE):
        items.append(("nav.intake_channels", "/intake/channels"))
    return items


# --- the public collection form ------------------------------------------------------------------

def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.kehu.keys.session, salt="kehu.intake.collect")


def _form_of(session, code: str) -> SimpleNamespace:
    """The public form's name, fields and purposes, read inside the session."""
    channel = service.form_channel(session, code)
    return SimpleNamespace(name=channel.name, field_list=channel.field_list, purpose_list=channel.purpose_list)


def _inputs(catalog, channel, posted: FormData | None, problems: forms.Problems) -> list[forms.Input]:
    items = []
    for name in channel.field_list:
        spec = catalog.get("customer", name)
        item = forms.Input(spec, hint=spec.help, mark="required" if name == "name" else "")
        if posted is not None and isinstance(posted.get(name), str):
            item.value = posted.get(name)
        item.error = problems.fields.get(name, "")
        items.append(item)
    return items


def _collect_page(request: Request, code: str, *, posted: FormData | None = None, exc: KehuError | None = None,
                  status: int = 200, message: str | None = None) -> Response:
    kehu = request.app.state.kehu
    with kehu.db.reader() as session:
        channel = _form_of(session, code)
        options = consent.form_options(session)
        catalog = kehu.catalog(session)
    problems = forms.problems(exc, channel.field_list + list(consent_web.ERROR_FIELDS)) if exc else forms.Problems()
    if message:
        problems.general.append(message)
    nonce = request.cookies.get(NONCE_COOKIE) or secrets.token_urlsafe(16)
    response = render(request, "intake/collect.html", code=code, channel=channel, problems=problems,
                      items=_inputs(catalog, channel, posted, problems), status=status,
                      form_token=_signer(request).dumps({"c": code, "n": nonce}),
                      consent=consent_web.fields_context(options, posted=posted, default_purposes=(), channels=False,
                                                         offered=channel.purpose_list))
    response.set_cookie(NONCE_COOKIE, nonce, max_age=TOKEN_AGE, httponly=True, samesite="strict",
                        secure=kehu.settings.secure_cookies, path="/collect")
    return response


@router.get("/collect/{code}")
def collect_form(request: Request, code: str) -> Response:
    """The public collection form: the privacy notice, the channel's fields and the consent choices."""
    return _collect_page(request, code)


def _token_ok(request: Request, form: FormData, code: str) -> bool:
    try:
        data = _signer(request).loads(str(form.get("form_token") or ""), max_age=TOKEN_AGE)
    except BadSignature:
        return False
    nonce = request.cookies.get(NONCE_COOKIE)
    return isinstance(data, dict) and data.get("c") == code and bool(nonce) and secrets.compare_digest(
        str(data.get("n", "")).encode(), nonce.encode())


@router.post("/collect/{code}")
def collect(request: Request, code: str, form: Annotated[FormData, Depends(read_form)]) -> Response:
    """Take a submission for review: rate-limited per address, signed form token, nothing stored when invalid."""
    kehu = request.app.state.kehu
    ip = client_ip(request) or "unknown"
    try:
        limiter_of(kehu).hit(ip)
    except RateLimited as exc:
        return _collect_page(request, code, posted=form, status=429, message=exc.message)
    if not _token_ok(request, form, code):
        return _collect_page(request, code, posted=form, status=403, message=t("intake.form_expired"))
    with kehu.db.reader() as session:
        fields = _form_of(session, code).field_list
    data = {name: form.get(name) for name in fields if isinstance(form.get(name), str)}
    try:
        with kehu.db.transaction() as session:
            service.submit_form(session, kehu, code=code, data=data, ip=ip,
                                consent_input=consent_web.parse_form(form))
    except ValidationFailed as exc:
        return _collect_page(request, code, posted=form, exc=exc, status=422)
    return RedirectResponse(f"/collect/{code}/done", status_code=303)


@router.get("/collect/{code}/done")
def collect_done(request: Request, code: str) -> Response:
    """Thank-you page after a submission."""
    with request.app.state.kehu.db.reader() as session:
        channel = _form_of(session, code)
    return render(request, "intake/collect_done.html", channel=channel)


# --- channels (registration) --------------------------------------------------------------------

def _channels_page(call: WebCall, *, token: str | None = None, exc: KehuError | None = None,
                   status: int = 200) -> Response:
    def go(s, ctx):
        return service.channels(s, ctx), consent.form_options(s)

    rows, options = call.run("intake.channels", go)
    specs = [s for s in call.catalog.writable("customer") if s.name not in ("owner_id", "department_id")]
    problems = forms.problems(exc, ["kind", "code", "name", "fields", "purposes", "needs_review", "owner_id",
                                    "source_channel"]) if exc else forms.Problems()
    return call.page("intake/channels.html", rows=rows, specs=specs, purposes=options["purposes"], token=token,
                     channels=CHANNELS, problems=problems, status=status, form=call.form if exc else None)


@router.get("/intake/channels")
def channels(call: Web) -> Response:
    """Registered public forms and systems; the form to register one."""
    return _channels_page(call)


@router.post("/intake/channels")
def register(call: Web) -> Response:
    """Register a channel; a system's token is shown on this page once (only its hash is kept)."""
    try:
        result = call.run("intake.channel.register", lambda s, ctx: service.register(
            s, ctx, kind=call.value("kind"), code=call.value("code"), name=call.value("name"),
            fields=call.values("fields"), purposes=call.values("purposes"),
            needs_review=call.value("needs_review") != "no", source_channel=call.value("source_channel") or None,
            owner_id=call.value("owner_id") or None))
    except ValidationFailed as exc:
        return _channels_page(call, exc=exc, status=exc.status)
    return _channels_page(call, token=result["token"]) if result["token"] else call.redirect(
        "/intake/channels?ok=created")


# --- review queue --------------------------------------------------------------------------------

@router.get("/intake")
def queue(call: Web, status: str = "pending") -> Response:
    """Submissions waiting for review (or decided ones)."""
    items = call.run("intake.queue", lambda s, ctx: service.queue(s, ctx, status=status))
    return call.page("intake/queue.html", items=items, shown=status)


def _review_page(call: WebCall, submission_id: str, *, exc: KehuError | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        return service.get(s, ctx, submission_id=submission_id), consent.form_options(s)

    body, options = call.run("intake.read", go, target=submission_id)
    names = list(dict.fromkeys(body["channel_fields"] + list(REVIEW_EXTRA)))
    shown = {v["name"]: v for v in body["values"]}
    fixes = [{"spec": call.catalog.get("customer", n), "current": shown.get(n),
              "value": call.value("fix_" + n) if exc else ""} for n in names]
    problems = forms.problems(exc, names + ["reason"]) if exc else forms.Problems()
    if isinstance(exc, Conflict) and exc.detail.get("archive_no"):
        problems.duplicate = exc.detail["archive_no"]
    purposes = dict(options["purposes"])
    return call.page("intake/review.html", s=body, fixes=fixes, problems=problems, purposes=purposes, status=status,
                     reason=call.value("reason"))


@router.get("/intake/{submission_id}")
def review(call: Web, submission_id: str) -> Response:
    """One submission: values (masked per rights), consent, duplicates; approve, correct, reject."""
    return _review_page(call, submission_id)


def _decide(call: WebCall, submission_id: str, action: str, fn) -> Response:
    try:
        result: dict[str, Any] = call.run(action, fn, target=submission_id)
    except (ValidationFailed, Conflict, Forbidden) as exc:
        if exc.code == CSRF_CODE or (isinstance(exc, Forbidden) and exc.code == "forbidden"):
            raise
        return _review_page(call, submission_id, exc=exc, status=exc.status)
    if result.get("archive_no"):
        return call.redirect(f"/customers/{result['archive_no']}?ok=created")
    return call.redirect("/intake?ok=rejected")


@router.post("/intake/{submission_id}/approve")
def approve(call: Web, submission_id: str) -> Response:
    """Approve; fields typed into the correction inputs are corrected first (each correction recorded)."""
    fixes = {k.removeprefix("fix_"): v for k, v in (call.form or {}).items()
             if k.startswith("fix_") and isinstance(v, str) and v.strip()}
    return _decide(call, submission_id, "intake.approve", lambda s, ctx: service.approve(
        s, ctx, submission_id=submission_id, corrections=fixes, note=call.value("note") or None))


@router.post("/intake/{submission_id}/reject")
def reject(call: Web, submission_id: str) -> Response:
    """Reject with the reason (required); the submitted values are erased."""
    return _decide(call, submission_id, "intake.reject", lambda s, ctx: service.reject(
        s, ctx, submission_id=submission_id, reason=call.value("reason")))
