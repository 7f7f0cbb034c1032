"""Streaming an export file from its plan: keyset pages of the customer list, bounded memory.

This is the export's job runner (like a CLI command it owns its transactions): each page is read in
its own read transaction through `customers.repository.page` with the plan's conditions and the
exporter's scope, every value goes through the one presenter (`catalog.presenter.present`), every cell
through `cells.safe`. CSV is produced page by page; Excel through openpyxl's write-only workbook (rows
go to its temporary file, the finished file is streamed from an anonymous temporary file). When the
stream ends — completed, failed or abandoned by the client — `service.finish` records the row count.
"""
from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from typing import Any

from kehu.access import policy
from kehu.catalog.presenter import present
from kehu.customers import repository as customers_repo
from kehu.customers.service import minor_of, vault_of
from kehu.exports import service
from kehu.exports.cells import safe
from kehu.web.view import display

PAGE_SIZE = 500
CHUNK = 64 * 1024
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def cells(plan: service.Plan, row: Any, users: dict[str, str], depts: dict[str, str]) -> list[str]:
    """One customer as the exporter may see it: hidden → empty, masked → masked, plain only where allowed."""
    ctx, minor = plan.ctx, minor_of(row)
    shown = present(ctx.principal, ctx.catalog, "customer", row, vault_of(ctx, row), minor=minor,
                    revealed=plan.plain, only=plan.fields)
    record = {**shown.values, "owner_name": users.get(row.owner_id), "department_name": depts.get(row.department_id)}
    out = []
    for name in plan.fields:
        spec = ctx.catalog.get("customer", name)
        if name in shown.hidden or not policy.may(ctx.principal, "export", spec, minor=minor):
            out.append("")  # e.g. a minor's personal data is level 1 for this row
        elif name in shown.masked:
            out.append(safe(shown.values.get(name)))
        else:
            out.append(safe(display(spec, shown.values.get(name), record)))
    return out


def _rows(plan: service.Plan, counts: dict[str, int]) -> Iterator[list[list[str]]]:
    """Pages of cells, each page read in its own read transaction (nothing held between pages)."""
    kehu, cursor = plan.ctx.kehu, None
    while True:
        with kehu.db.reader() as session:
            page = customers_repo.page(session, plan.ctx.principal, where=plan.where, sort=plan.sort,
                                       cursor=cursor, limit=PAGE_SIZE)
            users, depts = kehu.directory(session)
            out = []
            for row in page.rows:
                if plan.consent is not None and not plan.consent(session, row.id, plan.use):
                    counts["excluded"] += 1
                    continue
                out.append(cells(plan, row, users, depts))
            counts["rows"] += len(out)
        yield out
        cursor = page.next_cursor
        if not cursor:
            return


def _header(plan: service.Plan) -> list[str]:
    return [safe(plan.ctx.catalog.get("customer", n).label) for n in plan.fields]


def _footer(plan: service.Plan, counts: dict[str, int]) -> list[list[str]]:
    """The closing line of an export filtered by consent: how many customers were left out and why."""
    if plan.consent is None:
        return []
    return [[safe(f"另有 {counts['excluded']} 位客户因没有「{service.USES[plan.use]}」用途的同意记录（或已撤回）未导出")]]


def _csv(plan: service.Plan, counts: dict[str, int]) -> Iterator[bytes]:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([safe(plan.watermark)])
    out.writerow(_header(plan))
    first = True
    for page in _rows(plan, counts):
        out.writerows(page)
        data = buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate()
        yield (b"\xef\xbb\xbf" + data) if first else data  # BOM: Excel opens UTF-8 Chinese text correctly
        first = False
    out.writerows(_footer(plan, counts))
    if buf.getvalue():
        yield buf.getvalue().encode("utf-8")


def _xlsx(plan: service.Plan, counts: dict[str, int]) -> Iterator[bytes]:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    p = plan.ctx.principal
    wb.properties.creator = f"{p.display_name}（{p.username}）"
    wb.properties.title = f"客户档案导出 {plan.export_id}"
    wb.properties.subject = safe(plan.watermark)
    wb.properties.description = safe(plan.watermark)
    wb.properties.keywords = "kehu-export," + plan.export_id
    saved = False
    try:
        ws.append([safe(plan.watermark)])
        ws.append(_header(plan))
        for page in _rows(plan, counts):
            for row in page:
                ws.append(row)
        for row in _footer(plan, counts):
            ws.append(row)
        with tempfile.TemporaryFile() as tmp:  # unlinked at once on POSIX; gone when closed
            wb.save(tmp)  # also removes openpyxl's temporary sheet file
            saved = True
            tmp.seek(0)
            while chunk := tmp.read(CHUNK):
                yield chunk
    finally:
        if not saved and ws._writer is not None:  # abandoned half-way: remove the temporary sheet file now
            ws._writer.close()
            ws._writer.cleanup()


def stream(plan: service.Plan) -> Iterator[bytes]:
    """The file's bytes; the export is recorded as done (with its row count) or aborted at the end."""
    counts = {"rows": 0, "excluded": 0}
    completed = False
    try:
        yield from (_csv if plan.fmt == "csv" else _xlsx)(plan, counts)
        completed = True
    finally:
        with plan.ctx.kehu.db.transaction() as session:
            service.finish(session, plan.ctx, export_id=plan.export_id, fields=plan.fields, rows=counts["rows"],
                           excluded=counts["excluded"], completed=completed)
