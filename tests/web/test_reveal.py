"""Revealing a masked value: reason dialog, audited, shown for `reveal_seconds`, then masked again."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kehu.audit.models import AuditEntry
from tests.fixtures.world import create_customer, id_number
from tests.web.conftest import assert_labelled
from tests.web.test_visibility import field

pytestmark = pytest.mark.e2e


def test_reveal_asks_for_a_reason_is_audited_and_masks_again(kehu, world, page, login, shot):
    full = id_number(7)
    no = create_customer(kehu, as_user=world.ctx("alice"), id_number=full)
    kehu.settings.reveal_seconds = 2
    login(page, "head")
    page.goto(f"/customers/{no}")
    cell = field(page, "身份证号")
    expect(cell).to_contain_text("1101**********")
    shot(page, "detail-masked")
    assert_labelled(page)
    cell.get_by_role("button", name="查看完整信息").click()
    dialog = page.get_by_role("dialog", name="查看完整信息")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("身份证号")
    dialog.get_by_role("button", name="查看", exact=True).click()
    expect(dialog.get_by_role("alert")).to_have_text("请填写原因（至少2个字）")
    dialog.get_by_label("查看原因").fill("客户来电核实身份")
    dialog.get_by_role("button", name="查看", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(cell).to_contain_text(full)
    expect(cell).to_contain_text("秒后自动隐藏")
    shot(page, "detail-revealed")
    expect(cell).not_to_contain_text(full, timeout=8000)  # masked again after reveal_seconds
    expect(cell).to_contain_text("1101**********")
    expect(cell.get_by_role("button", name="查看完整信息")).to_be_visible()
    with kehu.db.reader() as s:
        entry = s.execute(select(AuditEntry.actor_name, AuditEntry.customer_no, AuditEntry.fields, AuditEntry.reason,
                                 AuditEntry.outcome).where(AuditEntry.action == "customer.reveal")).one()
    assert tuple(entry) == ("head", no, "customer.id_number", "客户来电核实身份", "ok")


def test_reveal_without_the_right_is_refused(kehu, world, page, login):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    login(page, "alice")
    page.goto(f"/customers/{no}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    r = page.request.post(f"/customers/{no}/reveal", form={"field": "id_number", "entity": "customer",
                                                           "reason": "想看看", "csrf": csrf})
    assert r.status == 403 and "无权查看明文以下字段：身份证号" in r.text()
    assert "110105" not in r.text()
