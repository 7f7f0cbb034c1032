"""Report and rejects of an import job: the row-level report as Excel or as JSON pages, the rejects as Excel / CSV
(produced on demand; formula injection neutralised in the files)."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.imports import files, mapping
from kehu.imports.models import ImportIssue, ImportJob
from kehu.imports.service import _own_job, layout
from kehu.runtime import Ctx

REPORT_HEADER = ["行号", "列/字段", "代码", "说明", "类别"]


def _issues(session: Session, job: ImportJob, phase: str, *, after: int = 0, limit: int | None = None):
    stmt = select(ImportIssue).where(ImportIssue.job_id == job.id, ImportIssue.phase == phase,
                                     ImportIssue.row_no > after).order_by(ImportIssue.row_no)
    return session.execute(stmt if limit is None else stmt.limit(limit)).scalars()


def _entries(ctx: Ctx, issue: ImportIssue) -> list[tuple[str | None, str, str, str, str]]:
    """(field, its label, code, message, 错误/提示) of each problem of one row."""
    return [(field, _label(ctx, field), code, message, "提示" if code == "likely_duplicate" else "错误")
            for field, code, message in json.loads(issue.errors)]


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
    lines = [[issue.row_no, *entry[1:]] for issue in _issues(session, job, phase) for entry in _entries(ctx, issue)]
    ctx.audit(session, action="import.report", target_type="import_job", target_id=job.id,
              detail={"phase": phase, "lines": len(lines)})
    name = f"导入报告-{job.id[-8:]}.xlsx"
    return name, files.xlsx(REPORT_HEADER, lines, title="导入报告")


def rows(session: Session, ctx: Ctx, job, *, phase: str = "check", after: int = 0,
         limit: int = 100) -> tuple[list[dict[str, Any]], bool]:
    """Report rows of a job the caller owns after file row `after`: ([{row, problems}], more?)."""
    issues = list(_issues(session, job, phase, after=after, limit=limit + 1))
    return [{"row": issue.row_no, "problems": [
        {"field": field, "label": label, "code": code, "message": message, "kind": "hint" if kind == "提示" else "error"}
        for field, label, code, message, kind in _entries(ctx, issue)]} for issue in issues[:limit]], \
        len(issues) > limit


def page(session: Session, ctx: Ctx, *, job_id: str, phase: str = "check", after: int = 0,
         limit: int = 100) -> dict[str, Any]:
    """The row-level report as data, one page of rows after file row `after` (the same content as `report`)."""
    job = _own_job(session, ctx, job_id)
    items, more = rows(session, ctx, job, phase=phase, after=after, limit=limit)
    total = session.scalar(select(func.count()).select_from(ImportIssue).where(ImportIssue.job_id == job.id,
                                                                               ImportIssue.phase == phase))
    ctx.audit(session, action="import.report", target_type="import_job", target_id=job.id,
              detail={"phase": phase, "format": "json", "after": after, "rows": len(items)})
    return {"phase": phase, "total": total, "items": items, "next_after": items[-1]["row"] if more else None}


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
