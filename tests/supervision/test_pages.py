"""The supervision pages in a real browser: the auditor handles an alert, reads the rules and the report."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.supervision.conftest import alerts, set_rule
from tests.web.conftest import assert_labelled

pytestmark = pytest.mark.e2e


def test_auditor_closes_an_alert_and_reads_the_report(client, api, customers, clock, scanned, page, login, shot):
    set_rule(client, api, "records_viewed", limit=2)
    for no in customers[:3]:
        client.get(f"/api/v1/customers/{no}", headers=api("alice"))
    scanned()
    [alert] = alerts(client, api, rule="records_viewed")
    login(page, "auditor")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="异常访问报警").click()
    expect(page.get_by_role("heading", name="异常访问报警")).to_be_visible()
    assert_labelled(page)
    shot(page, "supervision-alerts")
    page.goto(f"/supervision/alerts/{alert['id']}")
    expect(page.get_by_role("heading", name="查看客户档案过多")).to_be_visible()
    expect(page.get_by_role("cell", name=customers[2])).to_be_visible()
    assert_labelled(page)
    page.get_by_role("button", name="关闭报警").click()
    expect(page.get_by_role("main")).to_contain_text("请填写处理说明")
    page.go_back()
    page.get_by_label("处理说明").fill("已与客户经理核实，属正常工作")
    page.get_by_role("button", name="关闭报警").click()
    expect(page.get_by_text("报警已关闭。")).to_be_visible()
    expect(page.get_by_text("已与客户经理核实，属正常工作")).to_be_visible()
    page.goto("/supervision/rules")
    assert_labelled(page)
    page.locator("#records_viewed-limit").fill("50")
    page.locator("form[action='/supervision/rules/records_viewed']").get_by_role("button", name="保存").click()
    expect(page.get_by_text("报警规则已保存")).to_be_visible()
    expect(page.locator("#records_viewed-limit")).to_have_value("50")
    day = (clock.now + timedelta(hours=8)).date().isoformat()
    page.goto(f"/supervision/report?since={day}&until={day}")
    expect(page.get_by_role("cell", name="alice", exact=True)).to_be_visible()  # level-1 access: alice's reads
    expect(page.get_by_text("日志链完整")).to_be_visible()
    assert_labelled(page)
    shot(page, "supervision-report", full_page=True)
