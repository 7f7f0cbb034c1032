"""Web pages of `kehu.imports`: upload with the declared legal basis, mapping preview/edit, dry-run
plan and report, commit in the background with a progress bar, rejects download, ending a job.

The upload is parsed in memory (never spooled to a plaintext temporary file, `imports.transfer`) and
kept only sealed with the job's key; bigger files go through `kehu import` on the server.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.consent import service as consent
from kehu.customers.models import CHANNELS
from kehu.errors import Conflict, KehuError
from kehu.imports import reading, reports, runner, service, transfer
from kehu.imports.models import ON_EXISTING
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.render import hx_target
from kehu.web.session import CSRF_CODE, Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)


def nav(principal: Principal) -> list[tuple[str, str]]:
    """The import page for users who may create archives."""
    if principal.sees_customers and any(a == "create" for a, _ in principal.grants):
        return [("nav.imports", "/imports")]
    return []


def _basis(call: WebCall) -> service.Basis:
    return service.Basis(purposes=tuple(call.values("purposes")), purpose=call.value("purpose"),
                         scope=call.value("scope"), channel=call.value("channel"),
                         notice_version=call.value("notice_version"),
                         sensitive_consent=call.value("sensitive_consent") == "yes",
                         guardian_consent=call.value("guardian_consent") == "yes", note=call.value("note") or None)


SHOWN = 30  # report rows shown on the job page after a dry run (all of them in the Excel report)
BASIS_FIELDS = ["file", "basis.purposes", "basis.purpose", "basis.scope", "basis.notice_version", "basis.channel"]


def _list_page(call: WebCall, *, exc: KehuError | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        # summaries inside the session: its rollback at the end expires the job rows
        return ([service.summary(j) for j in service.list_jobs(s, ctx)], service.list_mappings(s, ctx),
                consent.form_options(s))
    jobs, mappings, options = call.run("import.list", go)
    problems = forms.problems(exc, BASIS_FIELDS) if exc else forms.Problems()
    posted = {k: call.value(k) for k in ("purpose", "scope", "notice_version", "channel", "note", "sensitive_consent",
                                         "guardian_consent")}
    if not call.value("notice_version") and options["notice"]:
        posted["notice_version"] = options["notice"]["version"]  # the notice in force, to confirm or change
    return call.page("imports/list.html", jobs=jobs, mappings=mappings,
                     channels=list(CHANNELS), modes=ON_EXISTING, problems=problems, status=status,
                     purposes=options["purposes"], ticked=set(call.values("purposes")), posted=posted)


@router.get("/imports")
def listing(call: Web) -> Response:
    """The user's import jobs and the upload form."""
    return _list_page(call)


@router.post("/imports")
async def upload(request: Request) -> Response:
    """Upload a file: a job is created (or the unfinished one for the same file resumed)."""
    call = WebCall(request, None)
    call.form, name, data = await transfer.receive(request)
    if data is None:
        return _list_page(call, exc=service.upload_refused("file_missing"), status=422)
    digest = reading.content_hash(transfer.in_memory(data))
    store = call.kehu.settings.var_dir / "imports"

    def go(s, ctx):
        job, _resumed = service.start(s, ctx, file_name=name, open_bytes=lambda: transfer.in_memory(data),
                                      file_hash=digest,
                                      basis=_basis(call), mapping_name=call.value("mapping") or None,
                                      on_existing=call.value("on_existing") or "reject", store_in=store,
                                      again=call.value("again") == "yes")
        return job.id
    try:
        job_id = call.run("import.start", go)
    except KehuError as exc:
        if exc.code == CSRF_CODE or exc.status == 404:
            raise
        if exc.code == "already_imported":
            return call.redirect(f"/imports/{exc.detail['job_id']}")
        return _list_page(call, exc=exc, status=exc.status)
    return call.redirect(f"/imports/{job_id}")


def _job_page(call: WebCall, job_id: str, *, exc: KehuError | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        job = service.get(s, ctx, job_id=job_id)
        header, columns = service.layout(job)
        first = reports.rows(s, ctx, job, limit=SHOWN)[0] if job.status == "checked" else []  # the page shows them
        return (service.summary(job), header, columns, service.targets_for(ctx), service.list_mappings(s, ctx),
                {p["code"]: p["name"] for p in consent.purposes(s, ctx)}, first)
    job, header, columns, targets, mappings, purposes, first = call.run("import.read", go, target=job_id)
    problems = forms.problems(exc, []) if exc else forms.Problems()
    template = "imports/_progress.html" if hx_target(call.request) == "progress" else "imports/job.html"
    labels = {k: call.catalog.fields[k].label for k in call.catalog.fields if k.startswith("customer.")}
    return call.page(template, job=job, header=header, columns=columns, targets=targets, mappings=mappings,
                     modes=ON_EXISTING, problems=problems, status=status, labels=labels, purposes=purposes,
                     running=runner.running(job_id), first=first, shown=SHOWN, channels=dict(CHANNELS))


@router.get("/imports/{job_id}")
def job_page(call: Web, job_id: str) -> Response:
    """A job: mapping, plan, progress, downloads."""
    return _job_page(call, job_id)


@router.post("/imports/{job_id}/mapping")
def edit_mapping(call: Web, job_id: str) -> Response:
    """Change the mapping (and the rule for existing archives); optionally save it under a name."""
    def go(s, ctx):
        header, _old = service.layout(service.get(s, ctx, job_id=job_id))
        columns = {i: call.value(f"col{i}") for i in range(len(header)) if call.value(f"col{i}")}
        service.set_columns(s, ctx, job_id=job_id, columns=columns, on_existing=call.value("on_existing") or None,
                            sensitive_consent=call.value("sensitive_consent") == "yes",
                            guardian_consent=call.value("guardian_consent") == "yes")
        if call.value("save_as"):
            service.save_mapping(s, ctx, name=call.value("save_as"), columns={header[i]: t for i, t in columns.items()},
                                 shared=call.value("shared") == "yes")
    return _step(call, job_id, "import.mapping", go, f"/imports/{job_id}?ok=saved")


@router.post("/imports/{job_id}/check")
def dry_run(call: Web, job_id: str) -> Response:
    """Check every row as the commit would, write nothing; the plan and the report are kept."""
    def go(s, ctx):
        job = service.get(s, ctx, job_id=job_id)
        open_bytes = runner.opener(ctx.kehu, job)
        rows = runner.stream(job, open_bytes).rows(runner.source(job, open_bytes))
        return service.check(s, ctx, job_id=job_id, rows=rows)
    return _step(call, job_id, "import.check", go, f"/imports/{job_id}")


def _step(call: Web, job_id: str, action: str, go, done_url: str) -> Response:
    """Run one step of a job; a refusal shows the job page with the message (CSRF and 404 pass through)."""
    try:
        call.run(action, go, target=job_id)
    except KehuError as exc:
        if exc.code == CSRF_CODE or exc.status == 404:
            raise
        return _job_page(call, job_id, exc=exc, status=exc.status)
    return call.redirect(done_url)


@router.post("/imports/{job_id}/commit")
def commit(call: Web, job_id: str) -> Response:
    """Start (or resume) writing in the background; the page shows the progress."""
    def go(s, ctx):
        service.ready_to_commit(service.get(s, ctx, job_id=job_id))
        return ctx.principal.user_id
    try:
        user_id = call.run("import.commit", go, target=job_id)
    except KehuError as exc:
        if exc.code == CSRF_CODE or exc.status == 404:
            raise
        return _job_page(call, job_id, exc=exc, status=exc.status)
    runner.in_background(call.kehu, user_id=user_id, job_id=job_id)
    return call.redirect(f"/imports/{job_id}")


@router.get("/imports/{job_id}/report")
def report(call: Web, job_id: str, phase: str = "check") -> Response:
    """The row-level report as Excel."""
    phase = "commit" if phase == "commit" else "check"
    name, data = call.run("import.report", lambda s, ctx: reports.report(s, ctx, job_id=job_id, phase=phase),
                          target=job_id)
    return transfer.download(name, data)


@router.get("/imports/{job_id}/rejects")
def rejects(call: Web, job_id: str, fmt: str = "xlsx") -> Response:
    """The rows not imported (original columns + reasons) as Excel or CSV."""
    name, data = call.run("import.rejects", lambda s, ctx: reports.rejects(
        s, ctx, job_id=job_id, fmt="csv" if fmt == "csv" else "xlsx"), target=job_id)
    return transfer.download(name, data)


@router.post("/imports/{job_id}/delete")
def end(call: Web, job_id: str) -> Response:
    """End a job now: its stored file, report rows and key are deleted."""
    try:
        call.run("import.purge", lambda s, ctx: runner.end(s, ctx, job_id), target=job_id)
    except Conflict as exc:
        return _job_page(call, job_id, exc=exc, status=exc.status)
    return call.redirect("/imports?ok=deleted")
