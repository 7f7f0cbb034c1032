"""What each default role sees on the list and the archive pages (masked, plain, hidden, not found)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.world import create_customer, id_number
from tests.web.conftest import assert_labelled, normalise

pytestmark = pytest.mark.e2e
MASKED_ID = re.compile(r"^1101\*{10}\d{3}[\dX]$")


@pytest.fixture
def customers(kehu, world):
    """One customer each of alice (华东组), bob (华北组) and carol (客服部)."""
    return {user: create_customer(kehu, as_user=world.ctx(user), id_number=id_number(n), mobile=f"1391234{n:04d}")
            for n, user in enumerate(("alice", "bob", "carol"), 1)}


def field(page, label: str):
    """The value element of a labelled field on the archive page."""
    return page.locator("dl.fields > div", has=page.locator("dt", has_text=label)).locator("dd")


def test_staff_sees_own_customers_and_level1_masked_without_reveal(customers, page, login, shot):
    login(page, "alice")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(customers["alice"])
    expect(rows.first).to_contain_text("13912340001")  # level 2 mobile: staff may see it in plain text
    shot(page, "list")
    assert_labelled(page)
    rows.first.get_by_role("link", name=customers["alice"]).click()
    expect(page).to_have_url(f"/customers/{customers['alice']}")
    expect(field(page, "身份证号")).to_have_text(MASKED_ID)  # level 1: masked, no right to reveal
    expect(field(page, "身份证号").get_by_role("button", name="查看完整信息")).to_have_count(0)
    expect(field(page, "手机")).to_have_text("13912340001")


def test_out_of_scope_archive_is_the_same_404_as_a_missing_one(customers, page, login):
    login(page, "alice")
    theirs = page.goto(f"/customers/{customers['bob']}")
    assert theirs.status == 404
    forbidden_page = normalise(page.content())
    missing = page.goto("/customers/KH20269999999")
    assert missing.status == 404
    assert normalise(page.content()) == forbidden_page
    expect(page.get_by_role("heading", name="未找到")).to_be_visible()
    for path in (f"/customers/{customers['bob']}/history", f"/customers/{customers['bob']}/card",
                 f"/customers/{customers['bob']}/edit", "/admin/users", "/admin/roles", "/audit"):
        assert page.goto(path).status == 404, path
        assert normalise(page.content()) == forbidden_page, path


def test_department_head_sees_department_with_reveal_and_info_manager_sees_all(customers, page, context, login):
    login(page, "head")
    body = page.locator("#results tbody")
    expect(body).to_contain_text(customers["alice"])
    expect(body).to_contain_text(customers["bob"])
    expect(body).not_to_contain_text(customers["carol"])
    page.goto(f"/customers/{customers['bob']}")
    expect(field(page, "身份证号")).to_contain_text("1101*")
    expect(field(page, "身份证号").get_by_role("button", name="查看完整信息")).to_be_visible()
    assert page.goto(f"/customers/{customers['carol']}").status == 404
    context.clear_cookies()
    login(page, "info")
    for no in customers.values():
        expect(page.locator("#results tbody")).to_contain_text(no)


def test_administrator_and_auditor_see_no_customers(customers, page, context, login):
    for user, landing in (("admin", "/admin/users"), ("auditor", "/audit")):
        context.clear_cookies()
        login(page, user)
        expect(page).to_have_url(landing)
        expect(page.get_by_role("navigation", name="主导航")).not_to_contain_text("客户档案")
        for path in ("/customers", f"/customers/{customers['alice']}", "/customers/new"):
            assert page.goto(path).status == 404, (user, path)


def test_search_filters_sort_and_paging(kehu, world, page, login):
    alice = world.ctx("alice")
    zhang = create_customer(kehu, as_user=alice, name="张三", mobile="13700000001", region="华东")
    for n in range(21):
        create_customer(kehu, as_user=alice, name=f"李{n:02d}", region="华北")
    login(page, "alice")
    rows = page.locator("#results tbody tr:not(.more-row)")
    expect(rows).to_have_count(20)  # one page, no total count
    page.get_by_role("link", name="加载更多").click()
    expect(rows).to_have_count(22)
    expect(page.get_by_role("link", name="加载更多")).to_have_count(0)
    search = page.get_by_label("搜索")
    for query in ("zs", "zhangsan", "13700000001", zhang):
        search.fill(query)
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(zhang)
    search.fill("")
    page.get_by_label("销售区域").fill("华北")
    page.get_by_label("排序").select_option("name")  # change → the filters apply
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("李00")
    assert "region=" in page.url and "sort=name" in page.url
