"""Web pages of `kehu.reports`: each report with its charts (ECharts, data in a JSON block) and Excel download."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.errors import NotFound
from kehu.reports import service
from kehu.reports.api import xlsx_response
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import t
from kehu.web.session import Web

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
Text = Annotated[Optional[str], Query(max_length=10)]
TOP = 12  # bars per chart; the table below lists every row


def nav(principal: Principal) -> list[tuple[str, str]]:
    """The reports menu entry, for users who may see customers at all."""
    return [("nav.reports", "/reports")] if principal.sees_customers else []


@router.get("/reports")
def index(call: Web) -> Response:
    """The list of reports."""
    call.run("report.index", lambda s, ctx: service.index(ctx))
    return call.page("reports/index.html", reports=list(service.REPORTS))


@router.get("/reports/{name}")
def report(call: Web, name: str, period: Text = None, as_of: Text = None) -> Response:
    """One report: parameters, charts, tables, Excel download."""
    if name not in service.REPORTS:
        raise NotFound()
    result = call.run(f"report.{name}", lambda s, ctx: service.run(s, ctx, name=name, period=period, as_of=as_of,
                                                                    today=date.today()), target=name)
    query = {"period": result["period"]["label"], **({"as_of": result["as_of"]} if "as_of" in result else {})}
    from urllib.parse import urlencode

    return call.page("reports/report.html", result=result, name=name, charts=charts(result),
                     export_url=f"/reports/{name}/export?{urlencode(query)}", reports=list(service.REPORTS))


@router.get("/reports/{name}/export")
def export(call: Web, name: str, period: Text = None, as_of: Text = None) -> Response:
    """The report as an Excel file."""
    if name not in service.REPORTS:
        raise NotFound()
    filename, data = call.run("report.export", lambda s, ctx: service.export(
        s, ctx, name=name, period=period, as_of=as_of, today=date.today()), target=name)
    return xlsx_response(filename, data)


def _num(value: Any) -> float:
    return float(value) if value not in (None, "") else 0.0


def _bar(key: str, title: str, rows: list[dict], label: str, series: list[tuple[str, str]]) -> dict:
    rows = rows[:TOP]
    return {"id": key, "type": "bar", "title": title, "categories": [r[label] for r in rows],
            "series": [{"name": name, "data": [_num(r.get(col)) for r in rows]} for col, name in series]}


def _pie(key: str, title: str, rows: list[dict], label: str, col: str) -> dict:
    data = [{"name": r[label], "value": _num(r.get(col))} for r in rows if _num(r.get(col))]
    return {"id": key, "type": "pie", "title": title, "data": data[:TOP]}


def charts(result: dict) -> list[dict]:
    """Chart specifications for static/reports.js, built from the report's tables."""
    tables = {tb["key"]: tb for tb in result["tables"]}
    this, last = t("reports.this_period"), t("reports.last_period")
    name = result["report"]
    if name == "growth":
        rows = tables["summary"]["rows"]
        total = rows[0]
        measures = ("original", "new", "removed", "current")
        return [{"id": "growth", "type": "bar", "title": t("reports.chart.growth"),
                 "categories": [t(f"reports.measure.{m}") for m in measures],
                 "series": [{"name": this, "data": [total[m] for m in measures]},
                            {"name": last, "data": [total[f"{m}_last"] for m in measures]}]},
                _pie("mix", t("reports.chart.mix"), rows[1:], "segment_name", "current")]
    if name == "region":
        out = [_bar("provinces", t("reports.chart.customers_by_province"), tables["provinces"]["rows"], "province",
                    [("customers", t("reports.customers"))])]
        if "order.total_amount" not in result["withheld"]:
            out.append(_pie("sales", t("reports.chart.sales_by_province"), tables["provinces"]["rows"], "province",
                            "sales"))
        return out
    if name == "complaints":
        out = [_pie("kinds", tables["kinds"]["title"], tables["kinds"]["rows"], "name", "complaints")]
        for key in ("departments", "handlings"):
            if key in tables:
                out.append(_bar(key, tables[key]["title"], tables[key]["rows"], "name",
                                [("complaints", this), ("complaints_last", last)]))
        return out
    out = []
    if "order.total_amount" not in result["withheld"]:
        out.append(_bar("owners", t("reports.chart.sales_by_owner"), tables["owners"]["rows"], "name",
                        [("sales", this), ("sales_last", last)]))
    flows = [(k, t(f"reports.measure.{k}")) for k, field in (("planned", "payment_plan.amount"),
                                                              ("received", "payment.amount"),
                                                              ("overdue", "payment_plan.amount"))
             if field not in result["withheld"]]
    if flows:
        out.append(_bar("departments", t("reports.chart.receivables"), tables["departments"]["rows"], "name", flows))
    return out
