"""The audit view (审计员) and the printable customer information card."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kehu.customers import service
from tests.fixtures.world import create_customer
from tests.web.conftest import assert_labelled

pytestmark = pytest.mark.e2e


def test_auditor_filters_the_log_and_sees_the_chain_verified(kehu, world, page, login, shot):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    with kehu.db.transaction() as s:
        service.reveal(s, world.ctx("head"), archive_no=no, fields=["id_number"], reason="核对开户资料")
    login(page, "auditor")
    expect(page).to_have_url("/audit")
    expect(page.locator("#verify")).to_contain_text("日志链完整")
    page.get_by_label("操作类型").fill("customer.reveal")
    page.get_by_label("客户档案编号").fill(no)
    page.get_by_role("button", name="查询").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("查看完整信息")
    expect(rows.first).to_contain_text("核对开户资料")
    expect(rows.first).to_contain_text("身份证号")
    expect(rows.first).to_contain_text("head")
    page.get_by_label("操作类型").fill("")
    page.get_by_label("客户档案编号").fill("")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#verify")).to_contain_text("日志链完整")
    shot(page, "audit")
    assert_labelled(page)
    page.get_by_label("操作人").fill("alice")
    page.get_by_role("button", name="查询").click()
    expect(rows.first).to_contain_text("alice")
    expect(page.locator("table.audit")).not_to_contain_text("核对开户资料")


def test_print_card_is_masked_and_prints_without_the_frame(kehu, world, page, login, shot):
    no = create_customer(kehu, as_user=world.ctx("alice"), kind="organisation", bank_account="6222020200001234567")
    login(page, "alice")
    page.goto(f"/customers/{no}")
    page.get_by_role("link", name="打印信息卡").click()
    expect(page.get_by_role("heading", name="客户信息卡").last).to_be_visible()
    sheet = page.locator("article.sheet")
    expect(sheet).to_contain_text(no)
    expect(sheet).to_contain_text("****4567")  # level 1 account, masked on paper too
    expect(sheet).not_to_contain_text("6222020200001234567")
    expect(sheet.get_by_role("button", name="查看完整信息")).to_have_count(0)
    shot(page, "card")
    page.emulate_media(media="print")
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.get_by_role("button", name="打印")).to_be_hidden()
