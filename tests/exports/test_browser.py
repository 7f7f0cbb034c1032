"""The export and approval flow in a real browser (chromium): list filters → form → file; approval → download."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.exports.conftest import read_csv, read_xlsx
from tests.fixtures.world import create_customer
from tests.web.conftest import assert_labelled

pytestmark = pytest.mark.e2e
BANK = "6222020200112233445"


def test_export_button_carries_the_list_filters_to_a_download(kehu, world, page, login, shot):  # noqa: F811
    alice = world.ctx("alice")
    east = create_customer(kehu, as_user=alice, region="华东", name="=HYPERLINK(1)")
    create_customer(kehu, as_user=alice, region="华北")
    login(page, "head")
    page.get_by_label("销售区域").fill("华东")
    page.get_by_label("销售区域").press("Enter")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    page.get_by_role("button", name="导出").click()
    expect(page).to_have_url("/exports/new?q=&owner_id=&department_id=&status=&kind=&tag=&grade=&region=%E5%8D%8E%E4%B8%9C&sort=new")
    expect(page.locator("#criteria")).to_contain_text("华东")
    assert_labelled(page)
    page.get_by_label("导出用途").fill("华东回访")
    page.get_by_label("用途类别").select_option("service")
    page.get_by_label("CSV").check()
    shot(page, "export-form")
    with page.expect_download() as info:
        page.get_by_role("button", name="导出", exact=True).click()
    content = open(info.value.path(), "rb").read()
    mark, header, rows = read_csv(content)
    assert "华东回访" in mark and [r[0] for r in rows] == [east]
    assert rows[0][header.index("姓名/名称")] == "'=HYPERLINK(1)" and "身份证号" not in header


def test_plaintext_export_waits_for_a_second_person(kehu, world, page, other_page, login, shot):  # noqa: F811
    from tests.approvals.conftest import person

    no = create_customer(kehu, as_user=world.ctx("alice"), bank_account=BANK)
    approver = person(kehu, world, username="checker", capabilities=["approve_export"],
                      grants=[(a, lvl) for a in ("view", "reveal", "export") for lvl in (1, 2, 3)])
    login(page, "info")
    page.goto("/exports/new")
    page.get_by_label("导出用途").fill("银行对账")
    page.get_by_label("用途类别").select_option("operations")
    page.get_by_label("银行账号").check()
    page.get_by_label("一级字段以明文导出").check()
    page.get_by_role("button", name="导出", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("已提交审批申请")
    expect(page.locator("#approval-status")).to_have_text("待审批")
    export_url = page.url.split("?")[0]

    login(other_page, approver)
    other_page.goto("/approvals")
    other_page.get_by_role("link", name="审批").last.click()
    expect(other_page.locator("#approval-summary")).to_contain_text("银行账号（明文）")
    assert_labelled(other_page)
    shot(other_page, "approval-decide")
    other_page.get_by_role("button", name="批准").click()
    expect(other_page.locator("#approval-status")).to_have_text("已批准")

    page.goto(export_url)
    with page.expect_download() as info:
        page.get_by_role("button", name="下载文件").click()
    _wb, rows = read_xlsx(open(info.value.path(), "rb").read())
    header = [c.value for c in rows[1]]
    assert len(rows) == 3 and rows[2][0].value == no and rows[2][header.index("银行账号")].value == BANK
    page.goto(export_url)
    expect(page.locator("#export-status")).to_have_text("已完成")
