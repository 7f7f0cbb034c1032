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
