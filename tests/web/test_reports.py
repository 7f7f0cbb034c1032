"""The report pages (kehu.reports) in a real browser: charts on a canvas, no script error (strict CSP), Excel download.

Here rather than in tests/reports/ so that one chromium serves the whole session (tests/web/conftest.py).
"""
from __future__ import annotations

import pytest

from tests.reports.conftest import data  # noqa: F401  (fixture: the generated report data)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("name", ["growth", "region", "complaints", "sales"])
def test_a_report_page_draws_its_charts(page, login, data, shot, name):
    login(page, "head")
    page.goto(f"/reports/{name}?period=2025")
    page.wait_for_selector("[data-chart] canvas")
    page.wait_for_timeout(300)
    shot(page, f"report-{name}")
    assert page.locator("[data-chart] canvas").count() >= 1
    assert page.locator("h1").inner_text()
    assert page.locator("table.table tbody tr").count() >= 1


def test_reports_menu_and_bad_period(page, login, data):
    login(page, "alice")
    page.get_by_role("link", name="统计报表").first.click()
    page.get_by_role("link", name="客户增减分析").click()
    page.get_by_label("统计期间").fill("2025-Q7")
    page.get_by_role("button", name="统计").click()
    assert "Q1 至 Q4" in page.content()


def test_excel_download_from_the_page(page, login, data):
    login(page, "head")
    page.goto("/reports/sales?period=2025")
    with page.expect_download() as info:
        page.get_by_role("link", name="导出 Excel").click()
    assert info.value.suggested_filename.endswith(".xlsx")
