"""Excel (.xlsx) rendering of a report result: one sheet per table, figures as numbers (openpyxl)."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

#: Excel sheet titles may not hold these characters and are at most 31 long
_BAD = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return Decimal(value) if value and value.replace(".", "", 1).lstrip("-").isdigit() else value
        except ArithmeticError:
            return value
    return value


def workbook(result: dict, *, viewer: str) -> bytes:
    """The report as an .xlsx file: title, period, viewer and time on top of each table."""
    wb = Workbook()
    wb.remove(wb.active)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for table in result["tables"]:
        ws = wb.create_sheet(table["title"].translate(_BAD)[:31])
        period = result["period"]
        ws.append([result["title"]])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append(["统计期间", f"{period['label']}（{period['start']} 至 {period['end']}）"])
        if "as_of" in result:
            ws.append(["逾期计算日", result["as_of"]])
        ws.append(["导出人", viewer, "导出时间", stamp])
        ws.append(["数据范围", "仅含导出人可查看的客户"])
        if result.get("withheld"):
            ws.append(["未显示的字段", "、".join(result["withheld"])])
        ws.append([])
        ws.append([c["label"] for c in table["columns"]])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        for row in table["rows"]:
            ws.append([_cell(row.get(c["key"])) for c in table["columns"]])
        for i, col in enumerate(table["columns"], start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, min(30, len(col["label"]) * 2 + 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
