"""JSON API of `kehu.imports`: the steps of the import pages for programs — upload with the legal basis
(mapping preview), mapping, dry run with its row-level report, commit in the background, report and
rejects files, ending a job. Same service calls as the pages: the importer's rights, 404 for a job of
someone else (or for a user who may not create archives), the same audit entries; `no-store` caching.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool

from kehu.customers.api import Api
from kehu.errors import Unauthenticated
from kehu.imports import reading, reports, runner, service, transfer
from kehu.imports.models import ON_EXISTING
from kehu.schemas import Strict

router = APIRouter(prefix="/api/v1/imports", tags=["imports 批量导入"])
Phase = Annotated[str, Query(pattern="^(check|commit)$", description="check 试运行 / commit 导入")]


class BasisInput(Strict):
    """The legal basis declared for the whole file (PIPL); recorded on the job and as each archive's consent."""

    purposes: list[str] = Field(default_factory=list, max_length=20, title="个人同意的处理目的（同意目的代码）")
    purpose: str = Field(default="", max_length=200, title="目的说明（可选）")
    scope: str = Field(default="", max_length=200, title="处理范围")
    channel: str = Field(default="import", max_length=20, title="收集渠道")
    notice_version: str = Field(default="", max_length=40, title="隐私告知版本（已发布的版本）")
    sensitive_consent: bool = Field(default=False, title="已就一级（敏感）信息取得单独同意")
    guardian_consent: bool = Field(default=False, title="已取得不满十四周岁者的监护人同意（行内须有监护人姓名及关系）")
    note: Optional[str] = Field(default=None, max_length=500, title="说明")


class MappingInput(Strict):
    """A job's column mapping (column index → target, "" ignores the column) and the declarations tied to it."""

    columns: dict[int, str] = Field(max_length=500, title="列序号 → 字段（见 targets）")
    on_existing: Optional[str] = Field(default=None, max_length=10, title="reject / fill / overwrite")
    sensitive_consent: Optional[bool] = None
    guardian_consent: Optional[bool] = None
    save_as: Optional[str] = Field(default=None, max_length=60, title="另存为映射（名称）")
    shared: bool = Field(default=False, title="与本部门共享")


UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "basis"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "CSV（UTF-8/GBK）或 .xlsx，上限 64 MB"},
        "basis": {"type": "string", "description": "合法性基础（JSON）：" + ", ".join(BasisInput.model_fields)},
        "on_existing": {"type": "string", "enum": list(ON_EXISTING), "default": "reject"},
        "mapping": {"type": "string", "maxLength": 60, "description": "已保存的映射名称"},
        "again": {"type": "boolean", "default": False, "description": "已导入完毕的文件再导入一次"}}}}}}}


def _basis(raw: Any) -> service.Basis:
    """The `basis` part (JSON) → Basis; a malformed one is a 422 naming `basis` or `basis.<field>`."""
    if not isinstance(raw, str):
        raise RequestValidationError([{"type": "missing", "loc": ("body", "basis"), "msg": "Field required"}])
    try:
        given = BasisInput.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", "basis", *e["loc"])} for e in exc.errors()]) from None
    return service.Basis(purposes=tuple(given.purposes), purpose=given.purpose, scope=given.scope,
                         channel=given.channel, notice_version=given.notice_version,
                         sensitive_consent=given.sensitive_consent, guardian_consent=given.guardian_consent,
                         note=given.note)


def _job(ctx, job) -> dict[str, Any]:
    """A job with its mapping preview: each file column, the field it fills (or None) and the possible targets."""
    header, columns = service.layout(job)
    targets = service.targets_for(ctx)
    return {**service.summary(job), "running": runner.running(job.id), "targets": targets,
            "mapping": [{"index": i, "header": head, "target": columns.get(i),
                         "label": targets.get(columns.get(i, ""))} for i, head in enumerate(header)]}


@router.get("")
def list_jobs(call: Api) -> dict:
    """My import jobs, newest first (state, counts, declared basis)."""
    return call.run("import.list", lambda s, ctx: {"items": [service.summary(j) for j in service.list_jobs(s, ctx)]})


@router.post("", status_code=201, openapi_extra=UPLOAD_BODY,
             responses={200: {"description": "同一文件未完成的任务（继续）"}, 409: {"description": "已导入完毕"}})
async def upload(request: Request, call: Api, response: Response) -> dict:
    """Upload a file with its legal basis → a job with the proposed column mapping (201); the unfinished job of
    the same file → 200. The file is kept only sealed with the job's key."""
    if not call.token:
        raise Unauthenticated()
    await run_in_threadpool(call.run, "import.start", lambda _s, ctx: service.require_importer(ctx))  # before reading
    form, name, data = await transfer.receive(request)
    basis = _basis(form.get("basis"))
    if data is None:
        raise service.upload_refused("file_missing")
    digest = reading.content_hash(transfer.in_memory(data))
    options = {k: v if isinstance(v, str) else "" for k in ("on_existing", "mapping", "again") for v in [form.get(k)]}

    def go(s, ctx):
        job, resumed = service.start(s, ctx, file_name=name, open_bytes=lambda: transfer.in_memory(data),
                                     file_hash=digest, basis=basis, mapping_name=options["mapping"] or None,
                                     on_existing=options["on_existing"] or "reject",
                                     store_in=call.kehu.settings.var_dir / "imports",
                                     again=options["again"].lower() in ("true", "1", "yes"))
        return _job(ctx, job), resumed
    body, resumed = await run_in_threadpool(call.run, "import.start", go)
    if resumed:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/imports/{body['id']}"
    return body


@router.get("/{job_id}")
def get_job(call: Api, job_id: str) -> dict:
    """One of my jobs: state, counts, checkpoint, plan of the dry run, mapping preview."""
    return call.run("import.read", lambda s, ctx: _job(ctx, service.get(s, ctx, job_id=job_id)), target=job_id)


@router.put("/{job_id}/mapping")
def put_mapping(call: Api, job_id: str, payload: MappingInput) -> dict:
    """Change the mapping (before the commit; the dry run must then be repeated); optionally save it by name."""
    def go(s, ctx):
        job = service.set_columns(s, ctx, job_id=job_id, columns=payload.columns, on_existing=payload.on_existing,
                                  sensitive_consent=payload.sensitive_consent,
                                  guardian_consent=payload.guardian_consent)
        if payload.save_as:
            header, columns = service.layout(job)
            service.save_mapping(s, ctx, name=payload.save_as, columns={header[i]: t for i, t in columns.items()},
                                 shared=payload.shared)
        return _job(ctx, job)
    return call.run("import.mapping", go, target=job_id)


@router.post("/{job_id}/dry-run")
def dry_run(call: Api, job_id: str, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    """Check every row exactly as the commit would, write nothing: the plan and the first page of the report."""
    def go(s, ctx):
        job = service.get(s, ctx, job_id=job_id)
        open_bytes = runner.opener(ctx.kehu, job)
        plan = service.check(s, ctx, job_id=job_id, rows=runner.stream(job, open_bytes).rows(
            runner.source(job, open_bytes)))
        return {"plan": plan, "report": reports.page(s, ctx, job_id=job_id, phase="check", limit=limit)}
    return call.run("import.check", go, target=job_id)


@router.get("/{job_id}/report")
def report(call: Api, job_id: str, phase: Phase = "check", after: Annotated[int, Query(ge=0)] = 0,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    """The row-level report (row, field, code, Chinese message; never values), a page of rows after `after`."""
    return call.run("import.report", lambda s, ctx: reports.page(s, ctx, job_id=job_id, phase=phase, after=after,
                                                                  limit=limit), target=job_id)


@router.get("/{job_id}/report.xlsx", responses={200: {"description": "Excel 文件"}})
def report_file(call: Api, job_id: str, phase: Phase = "check") -> Response:
    """The row-level report as an Excel file."""
    return transfer.download(*call.run("import.report", lambda s, ctx: reports.report(
        s, ctx, job_id=job_id, phase=phase), target=job_id))


@router.post("/{job_id}/commit", status_code=202)
def commit(call: Api, job_id: str) -> dict:
    """Start (or resume) writing after the dry run, in the background; follow it with GET (status, checkpoint)."""
    def go(s, ctx):
        job = service.get(s, ctx, job_id=job_id)
        service.ready_to_commit(job)
        runner.opener(ctx.kehu, job)  # a job started by `kehu import` has no stored file: 409 now, not in the thread
        return ctx.principal.user_id, _job(ctx, job)
    user_id, body = call.run("import.commit", go, target=job_id)
    runner.in_background(call.kehu, user_id=user_id, job_id=job_id)
    return {**body, "running": True}


@router.get("/{job_id}/rejects", responses={200: {"description": "Excel 或 CSV 文件"}})
def rejects(call: Api, job_id: str, format: Annotated[str, Query(pattern="^(xlsx|csv)$")] = "xlsx") -> Response:
    """The rows not imported: the original columns and the reasons (may hold level-1 values; delete after use)."""
    return transfer.download(*call.run("import.rejects", lambda s, ctx: reports.rejects(
        s, ctx, job_id=job_id, fmt=format), target=job_id))


@router.delete("/{job_id}")
def end(call: Api, job_id: str) -> dict:
    """End a job now: its sealed file, report rows and key are deleted (the job stays as a trace)."""
    def go(s, ctx):
        runner.end(s, ctx, job_id)
        return {"id": job_id, "status": "purged"}
    return call.run("import.purge", go, target=job_id)
