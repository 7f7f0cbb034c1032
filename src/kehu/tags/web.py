"""Web pages of `kehu.tags`: catalogue, tag detail with rule editor and dry run, quality dashboard, settings and
the evaluation schedule, segments."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kehu.exports.web import may_export
from kehu.tags import quality, quality_snapshot, schedule, segments, service
from kehu.tags.models import FAMILIES
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entries: the tag catalogue for customer users and tag managers, the quality dashboard, segments."""
    items = []
    if principal.sees_customers or principal.has("manage_tags") or principal.has("review_tags"):
        items.append(("nav.tags", "/tags"))
    if principal.has("manage_tags") or principal.has("review_tags"):
        items.append(("nav.tag_quality", "/tags/quality"))
        items.append(("nav.tag_settings", "/tags/settings"))
    if principal.sees_customers:
        items.append(("nav.segments", "/segments"))
    return items


def _may_read(ctx) -> None:
    p = ctx.principal
    if not (p.sees_customers or p.has("manage_tags") or p.has("review_tags")):
        raise NotFound()


@router.get("/tags")
def catalogue(call: Web) -> Response:
    """Tags by family with holders and the active version."""
    def go(s, ctx):
        _may_read(ctx)
        return service.list_tags(s, ctx)
    tags = call.run("tag.list", go)
    return call.page("tags/list.html", tags=tags, families=FAMILIES)


def _detail(call: WebCall, code: str, *, expression: str = "", dry=None, problems=None, status: int = 200) -> Response:
    def go(s, ctx):
        _may_read(ctx)
        return service.get_tag(s, ctx, code=code)
    tag = call.run("tag.read", go, target=code)
    if not expression and tag.get("versions"):
        expression = tag["versions"][0]["expression"]
    return call.page("tags/detail.html", tag=tag, expression=expression, dry=dry,
                     problems=problems or forms.Problems(), status=status,
                     can_manage=call.principal.has("manage_tags"), can_review=call.principal.has("review_tags"))


@router.get("/tags/quality")
def quality_page(call: Web) -> Response:
    """Coverage, change rate, error rate, usage and contradictions per tag, with when they were computed."""
    board = call.run("tag.quality", lambda s, ctx: quality.dashboard(s, ctx))
    return call.page("tags/quality.html", board=board)


@router.post("/tags/quality/check")
def quality_check(call: Web) -> Response:
    """立即检查: count the figures now, in a read transaction (off the store's write lock), then store them."""
    figures = call.run("tag.quality_check", quality_snapshot.measure_check, write=False)
    call.run("tag.quality_check", lambda s, ctx: quality_snapshot.save_check(s, ctx, figures=figures))
    return call.redirect("/tags/quality?ok=quality_checked")


#: the settings form's fields (name `group.key`), in the order shown
SETTING_FIELDS = {"params": ("active_days", "churn_days", "grade_period_days"),
                  "grade": ("a_top", "b_top", "b_freq_top"), "schedule": ("period", "hour")}


def _may_see_settings(ctx) -> None:
    if not (ctx.principal.has("manage_tags") or ctx.principal.has("review_tags")):
        raise NotFound()


def _settings_page(call: WebCall, *, form: dict | None = None, problems=None, status: int = 200) -> Response:
    def go(s, ctx):
        _may_see_settings(ctx)
        return service.settings_view(s, ctx)
    view = call.run("tag.settings_read", go)
    values = {f"{g}.{k}": view[g][k] for g, keys in SETTING_FIELDS.items() for k in keys}
    last = view["last_full_evaluation"] and schedule.summary(view["last_full_evaluation"])
    return call.page("tags/settings.html", view=view, last=last, values={**values, **(form or {})},
                     periods=schedule.PERIODS, hours=[(str(h), f"{h:02d}:00") for h in range(24)],
                     problems=problems or forms.Problems(), status=status, manage=call.principal.has("manage_tags"))


@router.get("/tags/settings")
def settings_page(call: Web) -> Response:
    """Rule parameters, grade ranking and the scheduled full evaluation (with the last and the next run)."""
    return _settings_page(call)


@router.post("/tags/settings")
def settings_save(call: Web) -> Response:
    """Save the settings form (`manage_tags`): every field checked, nothing saved when one is wrong."""
    form = {f"{g}.{k}": call.value(f"{g}.{k}").strip() for g, keys in SETTING_FIELDS.items() for k in keys}
    data: dict = {}
    for name, text in form.items():
        group, key = name.split(".")
        data.setdefault(group, {})[key] = int(text) if text.isdigit() and name != "schedule.period" else text
    try:
        call.run("tag.settings", lambda s, ctx: service.put_settings(s, ctx, data=data))
    except ValidationFailed as exc:
        return _settings_page(call, form=form, problems=forms.problems(exc, list(form)), status=exc.status)
    return call.redirect("/tags/settings?ok=saved")


@router.get("/tags/{code}")
def detail(call: Web, code: str) -> Response:
    """One tag: description, versions, rule editor."""
    return _detail(call, code)


@router.post("/tags/{code}/draft")
def draft(call: Web, code: str) -> Response:
    """Save the editor's text as a new draft, or dry-run it (button `action=dry`)."""
    text = call.value("expression")
    try:
        if call.value("action") == "dry":
            result = call.run("tag.dry_run", lambda s, ctx: service.dry_run(s, ctx, code=code, expression=text),
                              target=code)
            return _detail(call, code, expression=text, dry=result)
        call.run("tag.draft", lambda s, ctx: service.save_draft(s, ctx, code=code, expression=text), target=code)
    except ValidationFailed as exc:
        return _detail(call, code, expression=text, problems=forms.problems(exc, ["expression"]), status=exc.status)
    return call.redirect(f"/tags/{code}?ok=saved")


@router.post("/tags/{code}/versions/{version}/{step}")
def step(call: Web, code: str, version: int, step: str) -> Response:
    """Review, activate or retire a version."""
    fn = {"review": service.review, "activate": service.activate, "retire": service.retire}.get(step)
    if fn is None:
        raise NotFound()
    try:
        call.run(f"tag.{step}", lambda s, ctx: fn(s, ctx, code=code, version=version), target=code)
    except (Conflict, Forbidden) as exc:
        if exc.code == "csrf_failed":
            raise
        problems = forms.Problems(general=[exc.message])
        return _detail(call, code, problems=problems, status=exc.status)
    return call.redirect(f"/tags/{code}?ok=saved")


@router.get("/customers/{no}/grade")
def grade(call: Web, no: str) -> Response:
    """Why a customer has its grade, stars and RFM scores."""
    got = call.run("tag.explain", lambda s, ctx: service.explain_grade(s, ctx, archive_no=no), target=no)
    return call.page("tags/grade.html", no=no, got=got)


SEGMENT_FIELDS = ["name", "description", "expression"]


def _segment_form(call: WebCall) -> dict:
    return {k: call.value(k) for k in SEGMENT_FIELDS}


@router.get("/segments")
def segment_list(call: Web) -> Response:
    """The user's segments and a form for a new one."""
    rows = call.run("segment.list", lambda s, ctx: segments.list_(s, ctx))
    return call.page("tags/segments.html", rows=rows, problems=forms.Problems(), form={})


@router.post("/segments")
def segment_create(call: Web) -> Response:
    """Save a new segment."""
    data = _segment_form(call)
    try:
        seg = call.run("segment.save", lambda s, ctx: segments.save(s, ctx, data=data))
    except ValidationFailed as exc:
        rows = call.run("segment.list", lambda s, ctx: segments.list_(s, ctx))
        return call.page("tags/segments.html", rows=rows, problems=forms.problems(exc, SEGMENT_FIELDS), form=data,
                         status=exc.status)
    return call.redirect(f"/segments/{seg['id']}")


def _segment_page(call: WebCall, segment_id: str, *, form: dict | None = None, problems=None,
                  status: int = 200) -> Response:
    got = call.run("segment.members", lambda s, ctx: segments.members(s, ctx, segment_id=segment_id, limit=100))
    return call.page("tags/segment.html", got=got, may_export=may_export(call.principal),
                     form=form or got["segment"], problems=problems or forms.Problems(), status=status)


@router.get("/segments/{segment_id}")
def segment_members(call: Web, segment_id: str) -> Response:
    """Count and members (in scope) of a segment, with its edit form."""
    return _segment_page(call, segment_id)


@router.post("/segments/{segment_id}")
def segment_update(call: Web, segment_id: str) -> Response:
    """Change a segment's name, description or rule."""
    data = _segment_form(call)
    try:
        call.run("segment.save", lambda s, ctx: segments.save(s, ctx, data=data, segment_id=segment_id))
    except ValidationFailed as exc:
        return _segment_page(call, segment_id, form=data, problems=forms.problems(exc, SEGMENT_FIELDS),
                             status=exc.status)
    return call.redirect(f"/segments/{segment_id}?ok=saved")


@router.post("/segments/{segment_id}/delete")
def segment_delete(call: Web, segment_id: str) -> Response:
    """Delete a segment."""
    call.run("segment.delete", lambda s, ctx: segments.delete(s, ctx, segment_id=segment_id))
    return call.redirect("/segments?ok=deleted")
