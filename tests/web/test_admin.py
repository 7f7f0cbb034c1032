"""Administration pages (系统管理员): grants take effect on the next request, users, departments, catalogue."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kehu.access import service as access
from tests.fixtures.world import create_customer
from tests.web.conftest import assert_labelled
from tests.web.test_forms import error_of
from tests.web.test_visibility import field

pytestmark = pytest.mark.e2e


def test_removing_a_grant_changes_the_users_very_next_page(kehu, world, page, other_page, login, shot):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    login(other_page, "alice")
    other_page.goto(f"/customers/{no}")
    expect(field(other_page, "身份证号")).to_contain_text("1101*")
    login(page, "admin")
    page.get_by_role("link", name="角色与授权").click()
    staff = page.locator("#role-staff")
    box = staff.get_by_role("checkbox", name="员工：查看 · 一级信息")
    expect(box).to_be_checked()
    shot(page, "admin-roles")
    assert_labelled(page)
    box.uncheck()
    staff.get_by_role("button", name="保存授权").click()
    expect(page.get_by_role("status")).to_have_text("已保存。")
    expect(page.locator("#role-staff").get_by_role("checkbox", name="员工：查看 · 一级信息")).not_to_be_checked()
    other_page.reload()
    expect(other_page.locator("#tab-panel")).not_to_contain_text("身份证号")  # hidden now, not even masked
    expect(field(other_page, "手机")).to_be_visible()


def test_users_create_with_errors_and_unlock(kehu, world, page, other_page, login):
    for _ in range(kehu.settings.lockout_threshold):
        with kehu.db.transaction() as s:
            access.login(s, kehu=kehu, username="bob", password="wrong", ip=None)
    login(page, "admin")
    form = page.locator("form[action='/admin/users']")
    form.get_by_label("用户名").fill("dave")
    form.get_by_label("姓名").fill("Dave")
    form.get_by_label("密码").fill("short")
    form.get_by_label("角色").select_option(label="员工")
    form.get_by_label("部门").select_option(label="\u00a0\u00a0\u00a0\u00a0华东组")
    form.get_by_role("button", name="新建用户").click()
    expect(error_of(page, "密码")).to_have_text("密码至少10位")
    expect(page.locator("form[action='/admin/users']").get_by_label("用户名")).to_have_value("dave")
    page.locator("form[action='/admin/users']").get_by_label("密码").fill("Dave-pass-2026")
    page.locator("form[action='/admin/users']").get_by_role("button", name="新建用户").click()
    expect(page.get_by_role("status")).to_have_text("已创建。")
    expect(page.locator("#u-dave")).to_contain_text("华东组")
    bob = page.locator("#u-bob")
    expect(bob).to_contain_text("已锁定")
    bob.get_by_role("button", name="解锁").click()
    expect(page.get_by_role("status")).to_have_text("账户已解锁。")
    expect(page.locator("#u-bob")).not_to_contain_text("已锁定")
    assert_labelled(page)
    login(other_page, "bob", form=True)
    expect(other_page).to_have_url("/customers")
    login(other_page, "dave", "Dave-pass-2026")
    expect(other_page).to_have_url("/customers")


def test_department_tree_and_new_department(world, page, login):
    login(page, "admin")
    page.get_by_role("link", name="部门").click()
    page.get_by_role("button", name="新建部门").click()
    expect(error_of(page, "部门名称")).to_have_text("请填写部门名称")
    page.get_by_label("部门名称").fill("华南组")
    page.get_by_label("上级部门").select_option(label="\u00a0\u00a0销售部")
    page.get_by_role("button", name="新建部门").click()
    expect(page.get_by_role("status")).to_have_text("已创建。")
    expect(page.locator("ul.tree li.depth-2", has_text="华南组")).to_be_visible()


def test_catalogue_raise_a_level(world, page, login, shot):
    login(page, "admin")
    page.get_by_role("link", name="字段分类分级").click()
    shot(page, "admin-catalog")
    row = page.locator("tr[id='f-customer.occupation']")
    expect(row).to_contain_text("二级")
    row.get_by_role("link", name="调整").click()
    expect(page.get_by_label("级别").locator("option")).to_have_text(["一级", "二级"])  # only upward
    assert_labelled(page)
    page.get_by_label("级别").select_option(label="一级")
    page.get_by_role("button", name="保存").click()
    expect(error_of(page, "调整原因")).to_have_text("请填写原因（至少2个字）")
    page.get_by_label("调整原因").fill("职务信息涉及个人隐私")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_have_text("已保存。")
    expect(page.locator("tr[id='f-customer.occupation']")).to_contain_text("一级")
