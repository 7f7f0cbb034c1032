"""Create and edit forms: catalogue-generated fields, Chinese messages per field, nothing lost on failure."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.world import create_customer, id_number
from tests.web.conftest import assert_labelled
from tests.web.test_visibility import field

pytestmark = pytest.mark.e2e


def error_of(page, label: str):
    """The inline error under the input labelled `label`."""
    return page.locator(".field", has=page.get_by_label(label, exact=True)).locator(".error-text")


def test_create_shows_field_errors_keeps_input_then_creates(kehu, world, page, login, shot):
    login(page, "alice")
    page.get_by_role("link", name="新建客户").click()
    expect(page.get_by_role("heading", name="新建客户档案")).to_be_visible()
    for label in ("姓名/名称", "手机", "固定电话", "街道地址"):  # SPEC §1 required marks
        expect(page.locator(".label-row", has=page.get_by_text(label, exact=True)).locator("abbr.req")).to_be_visible()
    valid = id_number(11)
    page.get_by_label("姓名/名称").fill("王小明")
    page.get_by_label("身份证号").fill(valid[:-1] + ("0" if valid[-1] != "0" else "1"))
    page.get_by_label("手机", exact=True).fill("12345")
    page.get_by_label("电子邮箱").fill("not-an-email")
    page.get_by_role("button", name="创建档案").click()
    expect(page.get_by_role("alert").first).to_contain_text("输入有误")
    expect(error_of(page, "身份证号")).to_have_text("身份证号：身份证号校验位错误")
    expect(error_of(page, "手机")).to_have_text("手机：手机号码无效")
    expect(error_of(page, "电子邮箱")).to_have_text("电子邮箱：电子邮箱格式错误")
    expect(page.get_by_label("姓名/名称")).to_have_value("王小明")  # nothing lost
    expect(page.get_by_label("手机", exact=True)).to_have_value("12345")
    shot(page, "create-errors")
    assert_labelled(page)
    page.get_by_label("身份证号").fill(valid)
    page.get_by_label("手机", exact=True).fill("13811112222")
    page.get_by_label("电子邮箱").fill("wang@example.com")
    page.get_by_role("button", name="创建档案").click()
    expect(error_of(page, "街道地址")).to_have_text("请填写街道地址")
    page.get_by_label("街道地址").fill("长安街1号")
    page.get_by_role("button", name="创建档案").click()
    expect(error_of(page, "身份证号")).to_contain_text("须取得客户的单独同意")  # PIPL: level 1 needs its own consent
    page.get_by_label("客户单独同意处理其敏感个人信息（一级信息）").check()
    page.get_by_role("button", name="创建档案").click()
    expect(page.get_by_role("status")).to_have_text("已创建。")
    expect(page).to_have_url(re.compile(r"/customers/KH\d{11}\?ok=created$"))
    expect(page.locator("h1")).to_contain_text("王小明")
    expect(field(page, "身份证号")).to_contain_text("1101*")


def test_exact_duplicate_is_refused_with_a_link(kehu, world, page, login):
    existing = create_customer(kehu, as_user=world.ctx("alice"), mobile="13955556666")
    login(page, "alice")
    page.goto("/customers/new?kind=organisation")
    page.get_by_label("姓名/名称").fill("重复测试有限公司")
    page.get_by_label("手机", exact=True).fill("139 5555 6666")
    page.get_by_label("街道地址").fill("中关村大街1号")
    page.get_by_role("button", name="创建档案").click()
    expect(page.get_by_role("alert")).to_contain_text(f"已存在相同手机的客户档案：{existing}")
    expect(error_of(page, "手机")).to_contain_text(existing)
    page.get_by_role("link", name=f"打开已有档案 {existing}").click()
    expect(page).to_have_url(f"/customers/{existing}")


def test_edit_needs_a_reason_and_lands_in_the_history(kehu, world, page, login):
    no = create_customer(kehu, as_user=world.ctx("alice"), occupation="工程师")
    login(page, "alice")
    page.goto(f"/customers/{no}")
    page.get_by_role("link", name="编辑档案").click()
    expect(page.get_by_label("身份证号")).to_have_attribute("readonly", "")  # level 1: staff may not modify
    page.get_by_label("职业/职务").fill("架构师")
    page.get_by_role("button", name="保存").click()
    expect(error_of(page, "变更原因")).to_have_text("请填写原因（至少2个字）")
    expect(page.get_by_label("职业/职务")).to_have_value("架构师")
    page.get_by_label("变更原因").fill("客户升职")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_have_text("已保存。")
    expect(field(page, "职业/职务")).to_have_text("架构师")
    page.get_by_role("link", name="变更历史").click()
    row = page.locator("table.history tbody tr", has_text="客户升职")
    expect(row).to_contain_text("职业/职务")
    expect(row).to_contain_text("工程师")
    expect(row).to_contain_text("架构师")
    expect(row).to_contain_text("Alice")
    expect(page).to_have_url(f"/customers/{no}/history")


def test_masked_value_stays_unchanged_unless_retyped(kehu, world, page, login):
    no = create_customer(kehu, as_user=world.ctx("alice"), id_number=id_number(21))
    login(page, "head")
    page.goto(f"/customers/{no}/edit")
    masked = page.get_by_label("身份证号")
    expect(masked).to_have_value("")
    expect(masked).to_have_attribute("placeholder", re.compile(r"1101\*+"))
    assert_labelled(page)
    page.get_by_label("区县").fill("海淀区")
    page.get_by_label("变更原因").fill("客户搬家")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_have_text("已保存。")
    expect(field(page, "身份证号")).to_contain_text("1101*")  # still there, still masked
    expect(field(page, "区县")).to_have_text("海淀区")


def test_child_records_add_edit_delete(kehu, world, page, login):
    no = create_customer(kehu, as_user=world.ctx("alice"), kind="organisation")
    login(page, "head")
    page.goto(f"/customers/{no}")
    contacts = page.locator("#contacts")
    contacts.get_by_role("link", name="新增").click()
    page.get_by_role("button", name="保存").click()
    expect(error_of(page, "联系人姓名")).to_have_text("请填写联系人姓名")
    page.get_by_label("联系人姓名").fill("刘经理")
    page.get_by_label("手机", exact=True).fill("13800138000")
    page.get_by_label("主要联系人").select_option(label="是")
    page.get_by_role("button", name="保存").click()
    expect(contacts.locator("tbody tr")).to_have_count(1)
    expect(contacts).to_contain_text("刘经理")
    contacts.get_by_role("link", name="编辑").click()
    page.get_by_label("职务").fill("采购总监")
    page.get_by_role("button", name="保存").click()
    expect(error_of(page, "变更原因")).to_have_text("请填写原因（至少2个字）")
    page.get_by_label("变更原因").fill("职务调整")
    page.get_by_role("button", name="保存").click()
    expect(contacts).to_contain_text("采购总监")
    contacts.get_by_role("link", name="删除").click()
    page.get_by_label("删除原因").fill("已离职")
    page.get_by_role("button", name="删除").click()
    expect(page.get_by_role("status")).to_have_text("已删除。")
    expect(contacts).to_contain_text("暂无记录")
    page.goto(f"/customers/{no}/history")
    expect(page.locator("table.history")).to_contain_text("已离职")
