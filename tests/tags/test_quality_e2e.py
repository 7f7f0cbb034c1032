"""The quality dashboard in a real browser: no figures yet, 立即检查 busy while it counts, then the figures."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.fixtures.world import create_customer

pytestmark = pytest.mark.e2e


def test_check_now_says_it_is_busy_then_shows_the_figures(kehu, world, page, login, shot):
    for _ in range(3):
        create_customer(kehu, as_user=world.ctx("alice"))
    login(page, "info")
    page.get_by_role("link", name="标签质量").click()  # the menu entry
    expect(page.get_by_role("heading", name="标签质量")).to_be_visible()
    expect(page.locator(".quality-notice")).to_contain_text("尚未计算标签质量数据")
    with page.expect_navigation():
        # the submit handlers run before the request leaves: the button is already disabled and relabelled
        state = page.evaluate("""() => { const form = document.querySelector('form[data-busy]');
            const button = form.querySelector('button[type=submit]'); form.requestSubmit(button);
            return [button.disabled, button.textContent, form.getAttribute('aria-busy')]; }""")
    assert state == [True, "正在检查…", "true"]
    expect(page.get_by_role("status").first).to_have_text("标签质量数据已更新。")
    expect(page.locator(".quality-computed")).to_contain_text("数据计算于")
    expect(page.locator(".quality-computed")).to_contain_text("由 Info 立即检查")
    expect(page.locator(".quality-notice")).to_have_count(0)
    expect(page.get_by_role("button", name="立即检查")).to_be_enabled()
    shot(page, "tag-quality-checked")


def test_settings_page_sets_the_schedule_and_names_a_wrong_field(kehu, world, page, login, shot):
    from kehu.db import utcnow
    from kehu.tags import schedule
    from kehu.web.render import format_dt

    schedule.run_due(kehu)  # a full evaluation, as the server's schedule makes it
    login(page, "info")
    page.get_by_role("link", name="标签设置与评估").click()  # the menu entry
    expect(page.get_by_role("heading", name="标签设置与全量评估")).to_be_visible()
    expect(page.locator(".last-evaluation")).to_contain_text("上次全量评估：")
    expect(page.locator(".next-evaluation")).to_have_text(
        f"下次自动评估：{format_dt(schedule.slots(utcnow(), 'quarterly', 2)[1])}。")
    page.get_by_label("评估周期（每期首日）").select_option("monthly")
    page.get_by_label("开始时间").select_option("23")
    page.get_by_label("流失客户（天）").fill("三十")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#f-params\\.churn_days-err")).to_have_text("须为1–36500之间的整数")
    expect(page.get_by_label("评估周期（每期首日）")).to_have_value("monthly")  # what was chosen stays
    page.get_by_label("流失客户（天）").fill("365")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status").first).to_have_text("已保存。")
    expect(page.locator(".next-evaluation")).to_have_text(
        f"下次自动评估：{format_dt(schedule.slots(utcnow(), 'monthly', 23)[1])}。")
    expect(page.get_by_label("流失客户（天）")).to_have_value("365")
    shot(page, "tag-settings")
