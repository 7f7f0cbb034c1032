"""Real time: the request that records an order answers with the customer's tags and grade already updated."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from kehu.orders import products
from kehu.tags import engine
from kehu.tags.service import today
from tests.fixtures.world import create_customer
from tests.tags.conftest import add_order, customer_id


@pytest.fixture
def product(kehu, world) -> str:
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        products.create_line(s, info, data={"code": "SW", "name": "软件"})
        s.flush()
        products.create(s, info, data={"code": "CRM", "name": "客户管理系统", "line": "SW", "unit": "套"})
    return "CRM"


def _order(client, api, no: str, product: str, price: str) -> None:
    r = client.post("/api/v1/orders", headers=api("info"), json={
        "customer_no": no, "items": [{"product_id": product, "quantity": "1", "unit_price": price}]})
    assert r.status_code == 201, r.text
    r = client.patch(f"/api/v1/orders/{r.json()['order_no']}", headers=api("info"),
                     json={"status": "signed", "reason": "客户签字"})
    assert r.status_code == 200, r.text


def _tags(client, api, no: str) -> dict:
    r = client.get(f"/api/v1/customers/{no}/tags", headers=api("info"))
    assert r.status_code == 200, r.text
    return r.json()


def test_an_order_updates_tags_and_grade_in_the_same_request(client, api, kehu, world, product):
    no = create_customer(kehu, as_user=world.ctx("info"), id_number=None, birth_date="1990-05-01")
    before = {t["code"] for t in _tags(client, api, no)["tags"]}
    assert not before & {"active", "freq_medium", "amount_medium"}
    _order(client, api, no, product, "45000")
    data = _tags(client, api, no)
    codes = {t["code"] for t in data["tags"]}
    assert {"active", "freq_medium", "amount_medium", "line_sw"} <= codes
    assert data["grade"] in ("A", "B")  # the only buyer ranks first by quarterly spend
    gained = [h for h in data["history"] if h["change"] == "gained" and h["tag"] == "active"]
    assert gained and gained[0]["trigger"] == "order.updated" and gained[0]["rule_version"] == 1


def test_churned_customer_becomes_active_on_a_new_purchase(client, api, kehu, world, product):
    no = create_customer(kehu, as_user=world.ctx("info"), id_number=None)
    cid = customer_id(kehu, no)
    add_order(kehu, cid, on=today() - timedelta(days=400), amount=1000)
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, world.ctx("info").catalog, as_of=today())
    assert "churned" in {t["code"] for t in _tags(client, api, no)["tags"]}
    _order(client, api, no, product, "800")
    data = _tags(client, api, no)
    codes = {t["code"] for t in data["tags"]}
    assert "active" in codes and "churned" not in codes
    lost = [h for h in data["history"] if h["tag"] == "churned" and h["change"] == "lost"]
    assert lost and lost[0]["reason"] == "不再满足规则 v1"


def test_a_changed_archive_updates_basic_tags(client, api, kehu, world):
    no = create_customer(kehu, as_user=world.ctx("info"), id_number=None, city="上海市")
    assert "tier_1" in {t["code"] for t in _tags(client, api, no)["tags"]}
    r = client.patch(f"/api/v1/customers/{no}", headers=api("info"),
                     json={"city": "温州市", "reason": "搬家"})
    assert r.status_code == 200, r.text
    codes = {t["code"] for t in _tags(client, api, no)["tags"]}
    assert "tier_2" in codes and "tier_1" not in codes


def test_single_customer_evaluation_equals_the_full_one(kehu, world):
    cat = world.ctx("info").catalog
    cid = customer_id(kehu, create_customer(kehu, as_user=world.ctx("info"), id_number=None, birth_date="1980-01-01"))
    for days in (1, 2, 3, 40):
        add_order(kehu, cid, on=date(2026, 6, 30) - timedelta(days=days), amount=20000)
    with kehu.db.transaction() as s:
        changes = engine.evaluate_customers(s, cat, [cid], as_of=date(2026, 6, 30), trigger="test")
    with kehu.db.transaction() as s:
        full = engine.evaluate_all(s, cat, as_of=date(2026, 6, 30))
    assert {c["tag"] for c in changes} >= {"freq_high", "amount_medium", "active", "age_over_45"}
    assert all(c == {"gained": 0, "lost": 0} for c in full["changes"].values())


def test_a_failing_evaluation_is_rolled_back_alone_and_never_blocks_the_order(client, api, kehu, world, product,
                                                                               monkeypatch, caplog):
    no = create_customer(kehu, as_user=world.ctx("info"), id_number=None)
    original = engine.evaluate_customers

    def half_then_fail(*args, **kwargs):
        original(*args, **kwargs)  # tags and grade written in the savepoint …
        raise RuntimeError("evaluation broke after writing")  # … then rolled back with it
    monkeypatch.setattr(engine, "evaluate_customers", half_then_fail)
    _order(client, api, no, product, "45000")  # the order commits: both steps answered 2xx
    r = client.get("/api/v1/orders", params={"customer_no": no}, headers=api("info"))
    assert r.status_code == 200 and r.json()["items"][0]["status"] == "signed"
    data = _tags(client, api, no)
    assert not {t["code"] for t in data["tags"]} & {"active", "freq_medium", "amount_medium"}
    assert not [h for h in data["history"] if h["trigger"].startswith("order.")]
    assert "real-time tag evaluation failed" in caplog.text
    monkeypatch.setattr(engine, "evaluate_customers", original)
    with kehu.db.transaction() as s:  # the next full evaluation repairs it
        engine.evaluate_all(s, world.ctx("info").catalog, as_of=today())
    assert "active" in {t["code"] for t in _tags(client, api, no)["tags"]}
