"""JSON API of `kehu.exports`: options, start an export (file or approval request), run an approved one."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from kehu.customers.api import Api
from kehu.exports import service, writer
from kehu.exports.schemas import ExportCreate

router = APIRouter(prefix="/api/v1/exports", tags=["exports 导出"])


def file_response(outcome: service.Outcome) -> Response:
    """The file of a started export, or 202 with the approval request it waits for."""
    if outcome.plan is None:
        return JSONResponse({"status": "needs_approval", "export_id": outcome.export_id,
                             "approval": outcome.approval}, status_code=202)
    plan = outcome.plan
    return StreamingResponse(writer.stream(plan), media_type=writer.MEDIA_TYPES[plan.fmt],
                             headers={"Content-Disposition": f'attachment; filename="{plan.filename}"',
                                      "X-Export-Id": plan.export_id, "Cache-Control": "no-store"})


@router.get("/options")
def export_options(call: Api) -> dict:
    """The columns I may export (and how each appears), purposes and formats."""
    return call.run("export.options", service.options)


@router.post("", responses={200: {"description": "CSV 或 Excel 文件"}, 202: {"description": "需审批"}})
def start_export(call: Api, payload: ExportCreate) -> Response:
    """Export the filtered list as CSV/Excel; level-1 plain text without `approval_id` → 202 and an approval request."""
    filters = payload.filters.model_dump(exclude_none=True)
    return file_response(call.run("export.start", lambda s, ctx: service.start(
        s, ctx, q=payload.q, filters=filters, sort=payload.sort, fields=payload.fields, purpose=payload.purpose,
        use=payload.use, fmt=payload.format, plaintext=payload.plaintext, approval_id=payload.approval_id)))


@router.get("")
def list_exports(call: Api, before: Annotated[Optional[str], Query(max_length=32)] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    """My exports, newest first (status, rows, fields, approval)."""
    return call.run("export.list", lambda s, ctx: service.list_(s, ctx, before=before, limit=limit))


@router.get("/{export_id}")
def get_export(call: Api, export_id: str) -> dict:
    """One of my exports."""
    return call.run("export.read", lambda s, ctx: service.get(s, ctx, export_id=export_id), target=export_id)


@router.post("/{export_id}/download", responses={200: {"description": "CSV 或 Excel 文件"}})
def download(call: Api, export_id: str,
             format: Annotated[Optional[str], Query(pattern="^(csv|xlsx)$")] = None) -> Response:
    """Produce an export that waited for approval, once approved (single use)."""
    return file_response(call.run("export.start", lambda s, ctx: service.download(
        s, ctx, export_id=export_id, fmt=format), target=export_id))
