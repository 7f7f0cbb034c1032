"""In a real browser: public collection form → review with a correction → archive and its consent tab; channels."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from kehu.intake import service
from tests.web.conftest import assert_labelled

pytestmark = pytest.mark.e2e


def test_public_form_to_review_to_archive(kehu, world, page, login, other_page):
    with kehu.db.transaction() as s:
        service.register(s, world.ctx("info"), kind="form", code="expo", name="2026 展会客户登记",
                         fields=["name", "mobile", "email", "city"], purposes=["service", "marketing"])
    public = other_page  # the customer: no login
    public.goto("/collect/expo")
    expect(public.get_by_role("heading", name="2026 展会客户登记")).to_be_visible()
    public.get_by_text("客户个人信息保护告知书").click()  # the notice unfolds
    expect(public.locator(".notice-text")).to_contain_text("个人信息保护法")
    public.get_by_label("姓名/名称").fill("周杰")
    public.get_by_label("手机", exact=True).fill("13988887777")
    public.get_by_label("城市").fill("上海市")
    public.get_by_role("button", name="同意并提交").click()
    expect(public.locator(".consent-fields")).to_contain_text("请至少选择一项处理目的")  # nothing pre-ticked
    expect(public.get_by_label("姓名/名称")).to_have_value("周杰")
    assert_labelled(public)
    public.get_by_label("客户服务").check()
    public.get_by_role("button", name="同意并提交").click()
    expect(public.get_by_role("status")).to_contain_text("提交成功")

    login(page, "info")
    page.get_by_role("link", name="信息审核").click()
    row = page.locator("tbody tr", has_text="2026 展会客户登记")
    expect(row).to_have_count(1)
    row.get_by_role("link", name="审核").click()
    expect(page.get_by_role("heading", name=re.compile("审核提交的客户信息"))).to_be_visible()
    assert_labelled(page)
    page.get_by_role("button", name=re.compile("通过")).click()
    expect(page.locator("tr", has=page.get_by_label("街道地址"))).to_contain_text("请填写街道地址")  # archive rules
    page.get_by_label("街道地址").fill("世博大道1号")
    page.get_by_role("button", name=re.compile("通过")).click()
    expect(page).to_have_url(re.compile(r"/customers/KH\d{11}\?ok=created$"))
    expect(page.locator("h1")).to_contain_text("周杰")
    page.get_by_role("link", name="告知同意").click()
    expect(page.locator("table").first).to_contain_text("已同意")
    expect(page.get_by_role("cell", name="网站表单")).to_be_visible()
    withdraw = page.locator("form[action$='/consent/withdraw']")
    withdraw.get_by_label("客户服务").check()
    withdraw.get_by_label("撤回说明").fill("客户来电要求停止服务联系")
    withdraw.get_by_role("button", name="登记撤回（立即生效）").click()
    expect(page.get_by_role("status")).to_have_text("已保存。")
    expect(page.locator("table").first).to_contain_text("已撤回")
    expect(page.locator("table").nth(1)).to_contain_text("客户来电要求停止服务联系")


def test_register_a_system_shows_its_token_once(kehu, world, page, login):
    login(page, "info")
    page.get_by_role("link", name="收集渠道").click()
    expect(page.get_by_role("heading", name="收集渠道与接入系统")).to_be_visible()
    assert_labelled(page)
    page.get_by_label("渠道类型").select_option("system")
    page.get_by_label("渠道代码").fill("erp")
    page.get_by_label("渠道名称").fill("ERP 系统")
    page.get_by_role("button", name="登记").click()
    expect(page.locator("form.card")).to_contain_text("收集字段至少应包含")  # refused form keeps its input
    expect(page.get_by_label("渠道代码")).to_have_value("erp")
    page.locator("input[name=fields][value=name]").check()
    page.locator("input[name=fields][value=mobile]").check()
    page.locator("input[name=purposes][value=service]").check()
    page.get_by_role("button", name="登记").click()
    token = page.locator("#system-token").inner_text()
    assert token.startswith("kehu_sys_")
    expect(page.locator("tbody tr", has_text="ERP 系统")).to_contain_text("外部系统接口")
    page.reload()
    expect(page.locator("#system-token")).to_have_count(0)  # shown once
    assert token not in page.content()
