"""The JSON API: period validation (422 naming each bad parameter), access, the Excel export and its audit."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from kehu.audit.models import AuditEntry


@pytest.mark.parametrize("period, code", [
    ("2026-13", "period_month"), ("2026-00", "period_month"), ("2026-Q5", "period_quarter"),
    ("2026-Q0", "period_quarter"), ("1999", "period_year"), ("26", "period_format"), ("2026-7", "period_format"),
    ("2026/07", "period_format"), ("last", "period_format")])
def test_a_bad_period_is_refused_with_a_clear_422(client, api, world, period, code):
    r = client.get("/api/v1/reports/growth", params={"period": period}, headers=api("info"))
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("period", code)]
    assert body["errors"][0]["message"]


def test_every_bad_parameter_is_named_at_once(client, api, world):
    r = client.get("/api/v1/reports/sales", params={"period": "2026-Q9", "as_of": "2026-02-30"}, headers=api("info"))
    assert r.status_code == 422
    assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {("period", "period_quarter"),
                                                                     ("as_of", "date_invalid")}


@pytest.mark.parametrize("period, start, end, previous", [
    ("2026", "2026-01-01", "2026-12-31", "2025"), ("2026-Q1", "2026-01-01", "2026-03-31", "2025-Q4"),
    ("2026-03", "2026-03-01", "2026-03-31", "2026-02")])
def test_periods_and_their_previous_period(client, api, world, period, start, end, previous):
    r = client.get("/api/v1/reports/growth", params={"period": period}, headers=api("alice"))
    assert r.status_code == 200, r.text
    assert r.json()["period"] == {"label": period, "start": start, "end": end}
    assert r.json()["previous"]["label"] == previous


def test_unknown_report_and_no_view_rights(client, api, world):
    assert client.get("/api/v1/reports/secret", headers=api("info")).status_code == 422  # not one of the names
    assert client.get("/api/v1/reports/growth", headers=api("admin")).status_code == 403
    assert client.get("/api/v1/reports", headers=api("auditor")).status_code == 403
    assert client.get("/api/v1/reports/growth").status_code == 401
    assert [x["name"] for x in client.get("/api/v1/reports", headers=api("alice")).json()] == [
        "growth", "region", "complaints", "sales"]


def test_excel_export_holds_the_reports_figures_and_is_audited(client, api, world, data, kehu):
    shown = client.get("/api/v1/reports/sales", params={"period": "2025", "as_of": "2026-01-15"},
                       headers=api("head")).json()
    r = client.get("/api/v1/reports/sales/export", params={"period": "2025", "as_of": "2026-01-15"},
                   headers=api("head"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "sales-2025.xlsx" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["按负责人", "按部门"]
    ws = wb["按负责人"]
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    assert rows[0][0] == "销售与回款"
    header = rows.index(["负责人", "签约订单数", "销售额(元)", "上期订单数", "上期销售额(元)", "销售额环比(%)",
                         "计划回款(元)", "实际回款(元)", "逾期订单数", "逾期应收(元)"])
    body = rows[header + 1:]
    expected = shown["tables"][0]["rows"]
    assert [r[0] for r in body] == [r["name"] for r in expected]
    assert [Decimal(str(r[2])) for r in body] == [Decimal(r["sales"]) for r in expected]
    assert [Decimal(str(r[9])) for r in body] == [Decimal(r["overdue"]) for r in expected]
    with kehu.db.reader() as s:
        entries = s.execute(select(AuditEntry.action, AuditEntry.fields, AuditEntry.detail, AuditEntry.actor_name)
                            .where(AuditEntry.action.like("report.%")).order_by(AuditEntry.seq)).all()
    assert [e.action for e in entries] == ["report.sales", "report.export"]
    assert entries[1].actor_name == "head" and "xlsx" in entries[1].detail and "order.total_amount" in entries[1].fields


def test_export_needs_the_export_right(client, api, world, data, kehu):
    r = client.get("/api/v1/reports/growth/export", params={"period": "2025"}, headers=api("alice"))  # staff
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden_export"
    with kehu.db.reader() as s:
        outcomes = s.execute(select(AuditEntry.outcome).where(AuditEntry.action == "report.export")).scalars().all()
    assert outcomes == ["denied"]


@pytest.mark.parametrize("name, sheets", [("growth", ["客户增减"]), ("region", ["按省份", "按城市"]),
                                          ("complaints", ["按投诉类型", "按责任部门", "按处理方式"])])
def test_each_report_exports_its_tables(client, api, world, data, name, sheets):
    r = client.get(f"/api/v1/reports/{name}/export", params={"period": "2025"}, headers=api("info"))
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == sheets
    shown = client.get(f"/api/v1/reports/{name}", params={"period": "2025"}, headers=api("info")).json()
    first = [list(row) for row in wb[sheets[0]].iter_rows(values_only=True)]
    labels = [c["label"] for c in shown["tables"][0]["columns"]]
    start = first.index(labels) + 1
    assert len(first) - start == len(shown["tables"][0]["rows"])
    assert first[start][1] == shown["tables"][0]["rows"][0][shown["tables"][0]["columns"][1]["key"]]
