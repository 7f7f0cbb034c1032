"""Products and orders/contracts: capability, numbering, items and totals, scope, status and delivery."""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select

from kehu.customers.models import History
from kehu.orders.models import Order, OrderItem
from tests.fixtures.world import create_customer
from tests.orders.conftest import audit_rows


def order_body(no: str, **kw) -> dict:
    """A valid order of two lines: 2 × 12000.00 + 1 × 3000.50 = 27000.50."""
    return {"customer_no": no, "terms": "验收后30日内付清", "start_on": "2026-01-01", "end_on": "2026-12-31",
            "signer": "张经理", "items": [{"product_id": "CRM-STD", "quantity": "2", "unit_price": "12000"},
                                         {"product_id": "SVC-Y", "quantity": 1, "unit_price": 3000.5,
                                          "amount": "3000.50"}], **kw}


def test_products_need_the_capability(client, api, catalogue):
    listed = client.get("/api/v1/products", headers=api("alice")).json()
    assert [p["code"] for p in listed] == ["CRM-STD", "SVC-Y"] and listed[0]["line_name"] == "软件"
    r = client.post("/api/v1/products", json={"code": "X", "name": "X", "line": "SW"}, headers=api("alice"))
    assert r.status_code == 403
    r = client.post("/api/v1/products", json={"code": "", "line": "HW", "list_price": "-1"}, headers=api("pm"))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"code", "name", "line", "list_price"}
    r = client.patch("/api/v1/products/SVC-Y", json={"active": False}, headers=api("pm"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert [p["code"] for p in client.get("/api/v1/products", headers=api("alice")).json()] == ["CRM-STD"]


def test_order_numbers_unique_and_totals(kehu, world, client, api, catalogue):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    nos = []
    for _ in range(3):
        r = client.post("/api/v1/orders", json=order_body(no), headers=h)
        assert r.status_code == 201, r.text
        nos.append(r.json()["order_no"])
    assert len(set(nos)) == 3 and all(re.fullmatch(r"HT\d{4}\d{7}", n) for n in nos)
    assert [int(n[-7:]) for n in nos] == [1, 2, 3] and nos[0][2:6] == str(date.today().year)
    body = client.get(f"/api/v1/orders/{nos[0]}", headers=h).json()
    assert body["total_amount"] == "27000.50" and body["status"] == "draft" and body["delivery_status"] == "pending"
    assert [(i["product_code"], i["amount"]) for i in body["items"]] == [("CRM-STD", "24000.00"),
                                                                         ("SVC-Y", "3000.50")]
    assert body["customer_no"] == no and body["signer"] == "张经理"
    r = client.patch(f"/api/v1/orders/{nos[2]}", json={"status": "cancelled", "reason": "客户取消"}, headers=h)
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/orders", json=order_body(no), headers=h)
    assert int(r.json()["order_no"][-7:]) == 4  # a cancelled order's number is not reused
    listed = client.get("/api/v1/orders", params={"customer_no": no, "status": "draft"}, headers=h).json()
    assert [o["order_no"] for o in listed["items"]] == [r.json()["order_no"], nos[1], nos[0]]
    assert "terms" not in listed["items"][0]  # list rows carry the list fields only
    created = audit_rows(kehu, "order.create")
    assert len(created) == 4 and "order_item.unit_price" in created[0].fields and "12000" not in created[0].fields
    with kehu.db.reader() as s:  # each line carries its order's customer (the tag frame reads lines by customer)
        pairs = s.execute(select(OrderItem.customer_id, Order.customer_id)
                          .join(Order, Order.id == OrderItem.order_id)).all()
    assert len(pairs) == 8 and all(a == b for a, b in pairs)


def test_invalid_order_names_every_field_and_writes_nothing(kehu, world, client, api, catalogue):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    bad = order_body(no, start_on="2026-05-01", end_on="2026-04-01", status="bogus",
                     items=[{"product_id": "NOPE", "quantity": "1", "unit_price": "1"},
                            {"product_id": "CRM-STD", "quantity": "-2", "unit_price": "abc"},
                            {"product_id": "CRM-STD", "quantity": "3", "unit_price": "10", "amount": "31"},
                            {"product_id": "CRM-STD", "quantity": "0", "unit_price": "10"}])
    r = client.post("/api/v1/orders", json=bad, headers=api("alice"))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert errors == {"status": "invalid_choice", "end_on": "end_before_start",
                      "items[0].product_id": "product_not_found", "items[1].quantity": "negative",
                      "items[1].unit_price": "decimal_invalid", "items[2].amount": "amount_mismatch",
                      "items[3].quantity": "quantity_not_positive"}
    assert all(re.search(r"[\u4e00-\u9fff]", e["message"]) for e in r.json()["errors"])
    r = client.post("/api/v1/orders", json=order_body(no, total_amount="1"), headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "total_amount"  # computed, never sent
    r = client.post("/api/v1/orders", json=order_body(no, items=[]), headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 0
        assert s.scalar(select(func.count()).select_from(OrderItem)) == 0


def test_orders_follow_customer_scope(kehu, world, client, api, catalogue):
    theirs = create_customer(kehu, as_user=world.ctx("info"), owner_id=world.users["bob"],
                             department_id=world.departments["north"])
    r = client.post("/api/v1/orders", json=order_body(theirs), headers=api("alice"))
    assert r.status_code == 404
    r = client.post("/api/v1/orders", json=order_body(theirs), headers=api("info"))
    assert r.status_code == 201, r.text
    order_no = r.json()["order_no"]
    assert client.get(f"/api/v1/orders/{order_no}", headers=api("alice")).status_code == 404
    assert client.get("/api/v1/orders", headers=api("alice")).json()["items"] == []
    assert client.get(f"/api/v1/orders/{order_no}", headers=api("bob")).status_code == 200
    assert client.get(f"/api/v1/orders/{order_no}", headers=api("head")).status_code == 200  # 销售部 subtree
    assert client.get("/api/v1/orders", headers=api("admin")).json()["items"] == []
    assert client.patch(f"/api/v1/orders/{order_no}", json={"delivery_status": "delivered", "reason": "已发货"},
                        headers=api("alice")).status_code == 404


def test_status_and_delivery_updates_are_checked_and_recorded(kehu, world, client, api, catalogue):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    order_no = client.post("/api/v1/orders", json=order_body(no), headers=h).json()["order_no"]
    r = client.patch(f"/api/v1/orders/{order_no}", json={"status": "completed", "reason": "试试"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_transition"
    r = client.patch(f"/api/v1/orders/{order_no}", json={"status": "signed"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = client.patch(f"/api/v1/orders/{order_no}", json={"total_amount": "1", "reason": "改价"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "total_amount"
    r = client.patch(f"/api/v1/orders/{order_no}", json={"status": "signed", "delivery_status": "partial",
                                                          "reason": "合同已签，首批发货"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "signed" and r.json()["delivery_status"] == "partial"
    hist = client.get(f"/api/v1/customers/{no}/history", headers=h).json()["items"]
    changes = {(i["entity"], i["field"]): (i["old_value"], i["new_value"], i["reason"]) for i in hist
               if i["entity"] == "order"}
    assert changes[("order", "status")] == ("draft", "signed", "合同已签，首批发货")
    assert changes[("order", "delivery_status")] == ("pending", "partial", "合同已签，首批发货")
    updated = audit_rows(kehu, "order.update")
    assert updated[-1].fields == "order.status,order.delivery_status" and updated[-1].reason == "合同已签，首批发货"
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(History).where(History.entity == "order")) == 2


def test_purchase_data_is_level_two(kehu, world, client, api, catalogue, public_only):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    order_no = client.post("/api/v1/orders", json=order_body(no), headers=api("alice")).json()["order_no"]
    body = client.get(f"/api/v1/orders/{order_no}", headers=api(public_only)).json()
    assert body["order_no"] == order_no and body["status"] == "draft"
    assert "total_amount" not in body and {"total_amount", "terms", "signer"} <= set(body["_hidden"])
    assert all("product_code" not in i and "product_id" in i["_hidden"] for i in body["items"])
    masked = client.get(f"/api/v1/orders/{order_no}", headers=api("head")).json()
    assert masked["signer"] == "张经理"  # dept_head holds reveal@2: level-2 names plain
    r = client.get("/api/v1/receivables/overdue", headers=api(public_only))
    assert r.status_code == 403 and r.json()["code"] == "forbidden_view"
    assert client.get(f"/api/v1/orders/{order_no}/payments", headers=api(public_only)).json().get("totals") is None


def test_order_without_customer_names_it_with_the_other_errors(client, api, catalogue):
    r = client.post("/api/v1/orders", json={"signer": "x" * 61, "items": [{"product_id": "CRM-STD"}]},
                    headers=api("alice"))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"customer_no", "signer", "items[0].quantity",
                                                        "items[0].unit_price"}
