"""The relationship pages over HTTP: each page renders, forms write through the services, scope is kept."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from kehu.access import service as access
from kehu.orders import products
from kehu.web.render import today_local
from kehu.web.session import SESSION_COOKIE
from tests.fixtures.world import create_customer

PDF = b"%PDF-1.4\n%web upload test\n%%EOF\n"


class Browser:
    """One signed-in user over the test client: cookie, CSRF token scraped from a page, form posts."""

    def __init__(self, client: TestClient, kehu, world, username: str):
        with kehu.db.transaction() as s:
            result = access.login(s, kehu=kehu, username=username, password=world.password, ip="127.0.0.1",
                                  kind="web")
        self.client, self.cookies = client, {SESSION_COOKIE: result.token}
        page = self.get("/customers" if username not in ("admin", "auditor") else "/")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        self.csrf = found.group(1) if found else ""

    def get(self, url: str, **kw):
        self.client.cookies.clear()
        return self.client.get(url, cookies=self.cookies, **kw)

    def post(self, url: str, data: dict | None = None, **kw):
        self.client.cookies.clear()
        return self.client.post(url, data={"csrf": self.csrf, **(data or {})}, cookies=self.cookies,
                                follow_redirects=False, **kw)


@pytest.fixture
def browse(client, kehu, world):
    """`browse("alice")` → a signed-in Browser."""
    return lambda username: Browser(client, kehu, world, username)


@pytest.fixture
def catalogue(kehu, world) -> None:
    """Two products, created by the information manager (who holds manage_products)."""
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        products.create_line(s, info, data={"code": "SW", "name": "软件"})
        s.flush()
        products.create(s, info, data={"code": "CRM-STD", "name": "客户管理系统标准版", "line": "SW", "unit": "套",
                                       "list_price": "12000"})
        products.create(s, info, data={"code": "SVC-Y", "name": "年度服务", "line": "SW", "unit": "年"})


def _order(b: Browser, no: str) -> str:
    r = b.post(f"/customers/{no}/order", {
        "signer": "王经理", "start_on": "2026-01-01", "end_on": "2026-12-31", "terms": "验收后付款",
        "items-0-product_id": "CRM-STD", "items-0-quantity": "2", "items-0-unit_price": "12000",
        "items-1-product_id": "SVC-Y", "items-1-quantity": "1", "items-1-unit_price": "3000.5"})
    assert r.status_code == 303, r.text
    return re.search(r"/orders/(HT\d+)", r.headers["location"]).group(1)


def test_follow_up_and_timeline(kehu, world, browse):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    alice = browse("alice")
    form = alice.get(f"/customers/{no}/followup")
    assert form.status_code == 200 and 'name="followed_at"' in form.text
    r = alice.post(f"/customers/{no}/followup", {"method": "", "followed_at": "2026-13-01", "result": "x"})
    assert r.status_code == 422 and "跟进方式" in r.text  # every bad field named, form filled again
    r = alice.post(f"/customers/{no}/followup", {"method": "visit", "followed_at": "2026-11-20 10:30",
                                                  "result": "客户同意试用", "next_followup_on": "2026-12-01"})
    assert r.status_code == 303 and r.headers["location"] == f"/customers/{no}/timeline?ok=created"
    r = alice.post(f"/customers/{no}/communication", {"communicated_on": "2026-11-21", "channel": "phone",
                                                       "key_points": "确认报价", "intent": "strong"})
    assert r.status_code == 303
    page = alice.get(f"/customers/{no}/timeline")
    assert page.status_code == 200 and "客户同意试用" in page.text and "确认报价" in page.text
    assert page.text.index("确认报价") < page.text.index("客户同意试用")  # newest first
    panel = alice.get(f"/customers/{no}/timeline", headers={"HX-Request": "true", "HX-Target": "tab-panel"})
    assert "<html" not in panel.text and "客户同意试用" in panel.text


def test_order_items_payments_and_attachment(kehu, world, browse, catalogue):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    alice = browse("alice")
    assert "CRM-STD" in alice.get(f"/customers/{no}/order").text
    r = alice.post(f"/customers/{no}/order", {"items-0-product_id": "CRM-STD", "items-0-quantity": "0",
                                               "items-0-unit_price": "x"})
    assert r.status_code == 422 and "单价" in r.text
    order_no = _order(alice, no)
    page = alice.get(f"/orders/{order_no}")
    assert page.status_code == 200 and "客户管理系统标准版" in page.text and "年度服务" in page.text
    assert "27000.50" in page.text
    due = (date.today() - timedelta(days=10)).isoformat()
    assert alice.post(f"/orders/{order_no}/plans", {"plan-due_on": due, "plan-amount": "20000"}).status_code == 303
    r = alice.post(f"/orders/{order_no}/payments", {"payment-paid_on": date.today().isoformat(),
                                                    "payment-amount": "99999", "payment-method": "transfer"})
    assert r.status_code == 422 and "实际回款合计不能超过合同金额" in r.text
    r = alice.post(f"/orders/{order_no}/payments", {"payment-paid_on": date.today().isoformat(),
                                                    "payment-amount": "5000", "payment-method": "transfer",
                                                    "payment-account": "6222020200112233445"})
    assert r.status_code == 303, r.text
    page = alice.get(f"/orders/{order_no}").text
    assert "回款逾期" in page and "15000.00" in page and "6222020200112233445" not in page
    assert "逾期" in alice.get(f"/customers/{no}/orders").text
    rec = alice.get("/receivables")
    assert rec.status_code == 200 and order_no in rec.text
    r = alice.post(f"/orders/{order_no}/update", {"status": "signed", "delivery_status": "partial",
                                                  "reason": "客户已签字"})
    assert r.status_code == 303
    r = alice.post(f"/orders/{order_no}/update", {"status": "draft", "reason": "回退"})
    assert r.status_code == 422 and "合同状态不能从" in r.text
    r = alice.post(f"/orders/{order_no}/attachments", files={"file": ("合同.exe", b"MZ\x90\x00" + b"\x00" * 60)})
    assert r.status_code == 422 and "文件类型不允许" in r.text
    r = alice.post(f"/orders/{order_no}/attachments", files={"file": ("合同.pdf", PDF)})
    assert r.status_code == 303, r.text
    att = re.search(rf'href="/orders/{order_no}/attachments/([0-9a-f]{{32}})"', alice.get(f"/orders/{order_no}").text)
    download = alice.get(f"/orders/{order_no}/attachments/{att.group(1)}")
    assert download.content == PDF and download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    alan = browse("alan")
    assert alan.get(f"/orders/{order_no}/attachments/{att.group(1)}").status_code == 404


def test_complaint_workflow_through_the_pages(kehu, world, browse):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    alice = browse("alice")
    r = alice.post(f"/customers/{no}/complaint", {"kind": "goods", "channel": "phone", "urgency": "urgent",
                                                  "received_on": date.today().isoformat(), "content": "包装破损"})
    assert r.status_code == 303, r.text
    cno = re.search(r"/complaints/(TS\d+)", r.headers["location"]).group(1)
    page = alice.get(f"/complaints/{cno}").text
    assert 'name="step" value="investigate"' in page and 'value="close"' not in page  # only the next step
    r = alice.post(f"/complaints/{cno}/steps", {"step": "close"})  # a stale or forged step
    assert r.status_code == 409 and "不能执行“结案”" in r.text
    r = alice.post(f"/complaints/{cno}/steps", {"step": "investigate", "cause": ""})
    assert r.status_code == 422 and "投诉原因" in r.text
    steps = [("investigate", {"cause": "运输挤压"}), ("countermeasure", {"countermeasure": "更换包装供应商"}),
             ("handle", {"handling": "exchange", "loss_amount": "120",
                         "responsible_department_id": world.departments["service"]}),
             ("evaluate", {"satisfaction": "satisfied"}), ("close", {})]
    for step, data in steps:
        r = alice.post(f"/complaints/{cno}/steps", {"step": step, **data})
        assert r.status_code == 303, (step, r.text)
    page = alice.get(f"/complaints/{cno}").text
    assert "已结案" in page and "客服部" in page and 'name="step"' not in page
    assert cno in alice.get("/complaints").text and cno in alice.get(f"/customers/{no}/complaints").text
    history = alice.get(f"/customers/{no}/history").text
    assert "投诉" in history and "投诉调查" in history


def test_survey_and_lead_pages(kehu, world, browse):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    alice = browse("alice")
    assert alice.post(f"/customers/{no}/survey", {"template": "default"}).status_code == 303
    tab = alice.get(f"/customers/{no}/surveys").text
    survey_id = re.search(rf"/customers/{no}/surveys/([0-9a-f]+)/answer", tab).group(1)
    url = f"/customers/{no}/surveys/{survey_id}/answer"
    form = alice.get(url).text
    codes = re.findall(r'name="a-([a-z_]+)"', form)
    assert "service_quality" in codes
    r = alice.post(url, {f"a-{codes[0]}": "5"})
    assert r.status_code == 422 and "的评分" in r.text
    assert alice.post(url, {**{f"a-{c}": "4" for c in codes}, "comment": "服务不错"}).status_code == 303
    assert "服务不错" in alice.get(f"/customers/{no}/surveys").text
    r = alice.post(f"/customers/{no}/lead", {"title": "年度框架采购", "stage": "C", "expected_amount": "50000"})
    assert r.status_code == 303, r.text
    tab = alice.get(f"/customers/{no}/leads").text
    lead_id = re.search(rf"/customers/{no}/leads/([0-9a-f]+)/stage", tab).group(1)
    r = alice.post(f"/customers/{no}/leads/{lead_id}/stage", {"stage": "C"})
    assert r.status_code == 409 and "商机已处于该阶段" in r.text
    assert alice.post(f"/customers/{no}/leads/{lead_id}/stage", {"stage": "A1", "reason": "预算已批"}).status_code == 303
    tab = alice.get(f"/customers/{no}/leads").text
    assert "预算已批" in tab and "3个月内签约" in tab


def test_staff_cannot_open_another_staff_members_records(kehu, world, browse, catalogue):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    alice = browse("alice")
    order_no = _order(alice, no)
    r = alice.post(f"/customers/{no}/complaint", {"kind": "service", "channel": "visit", "urgency": "normal",
                                                  "content": "响应慢"})
    cno = re.search(r"/complaints/(TS\d+)", r.headers["location"]).group(1)
    alan = browse("alan")
    missing = alan.get("/orders/HT20269999999")
    assert missing.status_code == 404
    for url in (f"/orders/{order_no}", f"/complaints/{cno}", f"/customers/{no}/timeline", f"/customers/{no}/orders",
                f"/customers/{no}/complaints", f"/customers/{no}/surveys", f"/customers/{no}/leads",
                f"/customers/{no}/followup", f"/customers/{no}/order", f"/customers/{no}/complaint"):
        r = alan.get(url)
        assert r.status_code == 404 and r.text.replace(url, "") == missing.text.replace("/orders/HT20269999999", ""), url
    for url, data in ((f"/orders/{order_no}/payments", {"payment-paid_on": "2026-01-01", "payment-amount": "1",
                                                       "payment-method": "cash"}),
                      (f"/complaints/{cno}/steps", {"step": "investigate", "cause": "x"}),
                      (f"/customers/{no}/followup", {"method": "phone", "followed_at": "2026-01-01 10:00"})):
        assert alan.post(url, data).status_code == 404, url
    assert order_no not in alan.get("/receivables").text and cno not in alan.get("/complaints").text
    head = browse("head")  # the department head sees the department's records
    assert head.get(f"/orders/{order_no}").status_code == 200 and head.get(f"/complaints/{cno}").status_code == 200


def test_management_pages_need_their_capability(kehu, world, browse):
    info, alice = browse("info"), browse("alice")
    for url in ("/admin/products", "/admin/pool", "/admin/lead-stages", "/admin/surveys"):
        assert info.get(url).status_code == 200, url
        assert alice.get(url).status_code == 404, url
    nav = info.get("/admin/products").text
    assert all(f'href="{u}"' in nav for u in ("/admin/products", "/admin/pool", "/admin/lead-stages", "/admin/surveys"))
    assert 'href="/admin/products"' not in alice.get("/todo").text
    r = info.post("/admin/products/lines", {"line_code": "HW", "line_name": "硬件"})
    assert r.status_code == 303
    r = info.post("/admin/products", {"code": "", "name": "", "line": "HW", "list_price": "-1"})
    assert r.status_code == 422 and "请填写编码" in r.text
    assert info.post("/admin/products", {"code": "SRV-1", "name": "服务器", "line": "HW"}).status_code == 303
    assert "服务器" in info.get("/admin/products").text
    r = info.post("/admin/pool", {"private_cap": "abc", "warning_days": "5"})
    assert r.status_code == 422 and "应为0到" in r.text
    assert info.post("/admin/pool", {"private_cap": "1"}).status_code == 303
    assert 'value="1"' in info.get("/admin/pool").text
    assert info.post("/admin/lead-stages", {"code": "a!", "name": ""}).status_code == 422
    assert info.post("/admin/lead-stages", {"code": "D", "name": "已流失", "sort_order": "99"}).status_code == 303
    assert "已流失" in info.get("/admin/lead-stages").text
    r = info.post("/admin/surveys", {"code": "visit", "name": "回访问卷", "item-0-code": "speed",
                                     "item-0-label": "响应速度"})
    assert r.status_code == 303 and "回访问卷" in info.get("/admin/surveys").text


def test_pool_claim_and_todo(kehu, world, browse):
    from kehu.pools import service as pools
    from kehu.db import utcnow

    no = create_customer(kehu, as_user=world.ctx("alan"))
    other = create_customer(kehu, as_user=world.ctx("alan"))
    with kehu.db.transaction() as s:
        pools.update_settings(s, world.ctx("info"), values={"recycle_days.normal": 1})
    with kehu.db.transaction() as s:
        pools.recycle(s, kehu, now=utcnow() + timedelta(days=3))
    alice, alan = browse("alice"), browse("alan")
    page = alice.get("/pool").text
    assert no in page and other in page
    r = alan.post(f"/pool/{no}/claim")  # the previous owner within the cooldown
    assert r.status_code == 409 and "前负责人" in r.text
    r = alice.post(f"/pool/{no}/claim")
    assert r.status_code == 303 and r.headers["location"] == f"/customers/{no}?ok=claimed"
    assert alice.get(f"/customers/{no}").status_code == 200
    r = alice.post(f"/pool/{no}/claim")
    assert r.status_code == 404 and "公海中没有该客户" in r.text
    with kehu.db.transaction() as s:
        pools.update_settings(s, world.ctx("info"), values={"private_cap": 1})
    r = alice.post(f"/pool/{other}/claim")
    assert r.status_code == 409 and "私海客户已达上限" in r.text
    r = alice.post(f"/customers/{no}/followup", {"method": "phone", "followed_at": "2026-01-01 09:00",
                                                  "next_followup_on": today_local().isoformat()})
    assert r.status_code == 303
    home = alice.get("/")
    assert home.status_code == 200 and no in home.text and "今日计划跟进" in home.text
    assert no in alice.get("/todo").text


def test_demo_data_pages_for_wider_scopes(kehu, client):
    from kehu import demo

    demo.load_demo(kehu, n=60, seed=5, analyze=False)
    world = type("DemoWorld", (), {"password": demo.DEMO_PASSWORD})()
    for user in ("head", "info"):
        b = Browser(client, kehu, world, user)
        for url, marker in (("/", 'id="todo"'), ("/todo", 'id="todo"'), ("/complaints", 'id="complaint-rows"'),
                            ("/receivables", 'id="receivables"'), ("/pool", 'id="pool-rows"')):
            r = b.get(url)
            assert r.status_code == 200 and marker in r.text, (user, url)
        order_no = re.search(r'href="/orders/(HT\d+)"', b.get("/receivables").text).group(1)
        page = b.get(f"/orders/{order_no}")
        assert page.status_code == 200 and "回款逾期" in page.text
