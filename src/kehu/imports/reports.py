"""Report and rejects files of an import job (Excel / CSV, produced on demand, formula injection neutralised)."""
from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.imports import files, mapping
from kehu.imports.models import ImportIssue, ImportJob
from kehu.imports.service import _own_job, layout
from kehu.runtime import Ctx

REPORT_HEADER = ["行号", "列/字段", "代码", "说明", "类别"]


def _issues(session: Session, job: ImportJob, phase: str):
    return session.execute(select(ImportIssue).where(ImportIssue.job_id == job.id, ImportIssue.phase == phase)
                           .order_by(ImportIssue.row_no)).scalars()


def _label(ctx: Ctx, field: str | None) -> str:
    if not field or field == "row":
        return "整行"
    base = field.split("[")[0]
    for entity in ("customer", "contact"):
        spec = ctx.catalog.fields.get(f"{entity}.{base}")
        if spec is not None:
            return spec.label if entity == "customer" else "联系人" + spec.label.removeprefix("联系人")
    return mapping.targets(ctx.catalog).get(field, field)


def report(session: Session, ctx: Ctx, *, job_id: str, phase: str = "check") -> tuple[str, bytes]:
    """The row-level report (row, field, code, Chinese message; no values) as an Excel file."""
    job = _own_job(session, ctx, job_id)
    lines = []
    for issue in _issues(session, job, phase):
        for field, code, message in json.loads(issue.errors):
            kind = "提示" if code == "likely_duplicate" else "错误"
            lines.append([issue.row_no, _label(ctx, field), code, message, kind])
    ctx.audit(session, action="import.report", target_type="import_job", target_id=job.id,
              detail={"phase": phase, "lines": len(lines)})
    name = f"导入报告-{job.id[-8:]}.xlsx"
    return name, files.xlsx(REPORT_HEADER, lines, title="导入报告")


def rejects(session: Session, ctx: Ctx, *, job_id: str, fmt: str = "xlsx") -> tuple[str, bytes]:
    """The rows not imported: the original columns plus the reasons (cells unsealed only for this file)."""
    job = _own_job(session, ctx, job_id)
    header, _columns = layout(job)
    dek = ctx.kehu.crypto.unwrap(job.dek, owner=files.owner(job.id))
    count = 0

    def lines():
        nonlocal count
        for issue in _issues(session, job, "commit"):
            cells = json.loads(ctx.kehu.crypto.decrypt(dek, issue.cells, table="import_issues", field="commit",
                                                       row_id=f"{job.id}:{issue.row_no}")) if issue.cells else []
            why = "；".join(f"{_label(ctx, f)}：{m}" if f and f != "row" else m for f, _c, m in json.loads(issue.errors))
            count += 1
            yield [issue.row_no, why, *cells]

    head = ["原行号", "未导入原因", *header]
    data = files.csv_bytes(head, lines()) if fmt == "csv" else files.xlsx(head, lines(), title="未导入的行")
    ctx.audit(session, action="import.rejects", target_type="import_job", target_id=job.id,
              fields=sorted({t if "." in t else "customer.archive_no" for t in _columns.values()}),
              detail={"rows": count, "format": fmt})
    return f"未导入-{job.id[-8:]}.{'csv' if fmt == 'csv' else 'xlsx'}", data
