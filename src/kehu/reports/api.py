"""JSON API of `kehu.reports`: each report within the caller's data scope, and its Excel export."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Optional
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.customers.api import Api
from kehu.reports import service

router = APIRouter(prefix="/api/v1/reports", tags=["reports 报表"])
Name = Literal["growth", "region", "complaints", "sales"]
PeriodQ = Annotated[Optional[str], Query(max_length=10, description="2026、2026-Q3 或 2026-07；默认本季度")]
AsOfQ = Annotated[Optional[str], Query(max_length=10, description="逾期计算日 YYYY-MM-DD（销售与回款），默认今天")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("")
def reports(call: Api) -> list:
    """The available reports (403 without any view grant)."""
    return call.run("report.index", lambda s, ctx: service.index(ctx))


@router.get("/{name}")
def report(call: Api, name: Name, period: PeriodQ = None, as_of: AsOfQ = None) -> dict:
    """One report (growth 客户增减 / region 客户区域 / complaints 投诉统计 / sales 销售与回款) for a period vs the previous one."""
    return call.run(f"report.{name}", lambda s, ctx: service.run(s, ctx, name=name, period=period, as_of=as_of,
                                                                  today=date.today()), target=name)


@router.get("/{name}/export", response_class=Response, responses={200: {"content": {XLSX: {}}}})
def export(call: Api, name: Name, period: PeriodQ = None, as_of: AsOfQ = None) -> Response:
    """The report as an Excel file (needs the export right on the fields it draws on; audited report.export)."""
    filename, data = call.run("report.export", lambda s, ctx: service.export(
        s, ctx, name=name, period=period, as_of=as_of, today=date.today()), target=name)
    return xlsx_response(filename, data)


def xlsx_response(filename: str, data: bytes) -> Response:
    """An .xlsx download (not cached)."""
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename=report.xlsx; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})
