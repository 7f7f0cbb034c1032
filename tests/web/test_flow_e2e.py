"""Browser walk-throughs of the relationship pages as a sales staff member (员工), on both engines."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from kehu.db import utcnow
from kehu.orders import products
from kehu.pools import service as pools
from kehu.web.render import today_local
from tests.fixtures.world import create_customer
from tests.web.conftest import assert_labelled

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def catalogue(kehu, world) -> None:
    """Two products of one line, entered by the information manager (manage_products)."""
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        products.create_line(s, info, data={"code": "SW", "name": "软件"})
        s.flush()
        products.create(s, info, data={"code": "CRM-STD", "name": "客户管理系统标准版", "line": "SW", "unit": "套",
                                       "list_price": "12000"})
        products.create(s, info, data={"code": "SVC-Y", "name": "年度服务", "line": "SW", "unit": "年"})


def test_add_a_follow_up(kehu, world, page, login, shot):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    login(page, "alice")
    page.goto(f"/customers/{no}")
    page.get_by_role("link", name="跟进记录/沟通纪要").click()
    expect(page).to_have_url(f"/customers/{no}/timeline")
    page.get_by_role("link", name="新增跟进记录").click()
    assert_labelled(page)
    page.get_by_label("跟进方式").select_option("visit")
    page.get_by_label("跟进结果").fill("客户同意下周试用")
    page.get_by_label("下次跟进日期").fill(today_local().isoformat())
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(re.compile(rf"/customers/{no}/timeline\?ok=created$"))
    expect(page.locator(".timeline")).to_contain_text("客户同意下周试用")
    expect(page.locator(".timeline")).to_contain_text("拜访")
    page.get_by_role("link", name="今日待办").click()
    expect(page.locator("#todo")).to_contain_text(no)
    shot(page, "flow-todo")


def test_order_with_two_items_and_a_payment(kehu, world, page, login, shot, catalogue):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    login(page, "alice")
    page.goto(f"/customers/{no}/orders")
    page.get_by_role("link", name="新建订单/合同").click()
    assert_labelled(page)
    page.get_by_label("签约人").fill("王经理")
    page.locator("#items-0-product_id").select_option("CRM-STD")
    page.locator("#items-0-quantity").fill("2")
    page.locator("#items-0-unit_price").fill("12000")
    page.locator("#items-1-product_id").select_option("SVC-Y")
    page.locator("#items-1-quantity").fill("1")
    page.locator("#items-1-unit_price").fill("3000")
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(re.compile(r"/orders/HT\d{11}\?ok=created$"))
    items = page.locator("#items")
    expect(items).to_contain_text("客户管理系统标准版")
    expect(items).to_contain_text("年度服务")
    expect(page.locator("#h-order + dl")).to_contain_text("27000.00")
    plan = page.locator("form[action$='/plans']")
    plan.get_by_label("计划回款日期").fill((today_local() - timedelta(days=5)).isoformat())
    plan.get_by_label("计划回款金额").fill("20000")
    plan.get_by_role("button", name="添加回款计划").click()
    expect(page.locator("#plan")).to_contain_text("回款逾期")
    pay = page.locator("form[action$='/payments']")
    pay.get_by_label("回款日期").fill(today_local().isoformat())
    pay.get_by_label("回款金额").fill("8000")
    pay.get_by_label("回款方式").select_option("transfer")
    pay.get_by_label("付款账号").fill("6222020200112233445")
    pay.get_by_role("button", name="登记回款").click()
    expect(page.locator("#payment table")).to_contain_text("8000.00")
    expect(page.locator("#payment table")).not_to_contain_text("6222020200112233445")  # level 1: masked
    expect(page.locator("#plan")).to_contain_text("12000.00")  # still outstanding, overdue
    assert_labelled(page)
    shot(page, "flow-order", full_page=True)
    page.get_by_role("link", name="应收逾期").click()
    expect(page.locator("#receivables")).to_contain_text(no)


def test_complaint_from_registration_to_close(kehu, world, page, login, shot):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    login(page, "alice")
    page.goto(f"/customers/{no}/complaints")
    page.get_by_role("link", name="登记投诉").click()
    page.get_by_label("投诉类型").select_option("goods")
    page.get_by_label("投诉渠道").select_option("phone")
    page.get_by_label("紧急程度").select_option("urgent")
    page.get_by_label("投诉内容").fill("到货外包装破损")
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(re.compile(r"/complaints/TS\d{10}\?ok=created$"))
    expect(page.locator(".workflow .current")).to_have_text("已受理")
    steps = [("调查", "投诉原因", "运输途中挤压"), ("制定对策", "处理对策", "更换承运商"),
             ("处理", "处理方式", "exchange"), ("满意度评价", "客户满意度评价", "satisfied"), ("结案", None, None)]
    for button, label, value in steps:
        assert page.locator("input[name=step]").count() == 1  # only the valid next step is offered
        if label and value in ("exchange", "satisfied"):
            page.get_by_label(label).select_option(value)
        elif label:
            page.get_by_label(label).fill(value)
        if button == "处理":
            page.get_by_label("责任部门").select_option(label="客服部")
            shot(page, "flow-complaint")
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.get_by_role("status")).to_have_text("已保存。")
    expect(page.locator(".workflow .current")).to_have_text("已结案")
    expect(page.locator("input[name=step]")).to_have_count(0)
    page.get_by_role("link", name="投诉", exact=True).click()
    expect(page.locator("#complaint-rows")).to_contain_text("已结案")


def test_claim_a_customer_from_the_pool(kehu, world, page, login, shot):
    no = create_customer(kehu, as_user=world.ctx("alan"))
    with kehu.db.transaction() as s:
        pools.update_settings(s, world.ctx("info"), values={"recycle_days.normal": 1})
    with kehu.db.transaction() as s:
        pools.recycle(s, kehu, now=utcnow() + timedelta(days=3))
    login(page, "alice")
    page.get_by_role("link", name="公海", exact=True).click()
    row = page.locator(f"#pool-{no}")
    expect(row).to_be_visible()
    shot(page, "flow-pool")
    row.get_by_role("button", name="领取").click()
    expect(page).to_have_url(f"/customers/{no}?ok=claimed")
    expect(page.get_by_role("status")).to_have_text("已领取到您的私海。")
    expect(page.locator(".archive-head")).to_contain_text("Alice")


def test_demo_data_fills_every_page(kehu, world, page, login, shot):
    from sqlalchemy import func, select

    from kehu import demo
    from kehu.access.models import User
    from kehu.complaints.models import Complaint
    from kehu.customers.models import Customer
    from kehu.interactions.models import FollowUp
    from kehu.leads.models import Lead
    from kehu.orders.models import Order
    from kehu.surveys.models import Survey

    demo.load_demo(kehu, n=150, seed=3, analyze=False)
    with kehu.db.reader() as s:
        me = s.execute(select(User.id).where(User.username == "zhangwei")).scalar_one()

        def busiest(model) -> str:  # the customer of zhangwei with the most records of a kind
            return s.execute(select(Customer.archive_no).join(model, model.customer_id == Customer.id)
                             .where(Customer.owner_id == me).group_by(Customer.archive_no)
                             .order_by(func.count().desc(), Customer.archive_no).limit(1)).scalar_one()

        nos = {tab: busiest(model) for tab, model in (("timeline", FollowUp), ("orders", Order),
                                                      ("complaints", Complaint), ("surveys", Survey),
                                                      ("leads", Lead))}
    login(page, "zhangwei", demo.DEMO_PASSWORD)
    page.goto("/")
    expect(page.locator("#todo tbody tr").first).to_be_visible()
    for kind in ("今日计划跟进", "跟进已逾期", "即将回收至公海"):
        expect(page.locator("#todo")).to_contain_text(kind)
    shot(page, "flow-home")
    for tab, no in nos.items():
        page.goto(f"/customers/{no}/{tab}")
        expect(page.locator("#tab-panel .empty")).to_have_count(0)
    page.goto(f"/customers/{nos['orders']}/orders")
    page.locator("#tab-panel table a").first.click()
    expect(page.locator("#items tbody tr").first).to_be_visible()
    for url, selector in (("/receivables", "#receivables"), ("/complaints", "#complaint-rows"),
                          ("/pool", "#pool-rows")):
        page.goto(url)
        expect(page.locator(selector + " tbody tr").first).to_be_visible()
    page.goto("/complaints?overdue=1")
    expect(page.locator("#complaint-rows .row-overdue").first).to_be_visible()
    shot(page, "flow-complaints")
