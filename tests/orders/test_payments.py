"""Payments (回款): plan vs actual, overdue receivables on a fixed day, the level-1 account, events."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from kehu import events
from kehu.orders import payments, service
from kehu.orders.models import Payment
from tests.fixtures.world import create_customer
from tests.orders.conftest import audit_rows
from tests.orders.test_orders import order_body

ACCOUNT = "6222020200556677889"


@pytest.fixture
def order(kehu, world, client, api, catalogue) -> dict:
    """A 27000.50 order of a customer of alice's, with three planned payments."""
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    order_no = client.post("/api/v1/orders", json=order_body(no), headers=h).json()["order_no"]
    for due, amount in (("2026-02-01", "10000"), ("2026-03-01", "10000"), ("2026-06-01", "7000.50")):
        r = client.post(f"/api/v1/orders/{order_no}/payments/plans", json={"due_on": due, "amount": amount},
                        headers=h)
        assert r.status_code == 201, r.text
    return {"customer_no": no, "order_no": order_no}


def _pay(client, h, order_no, paid_on, amount, **kw):
    r = client.post(f"/api/v1/orders/{order_no}/payments",
                    json={"paid_on": paid_on, "amount": amount, "method": "transfer", **kw}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def test_plan_versus_actual_and_overdue_on_a_fixed_day(client, api, order):
    h, no = api("alice"), order["order_no"]
    _pay(client, h, no, "2026-02-10", "12000")
    summary = client.get(f"/api/v1/orders/{no}/payments", params={"as_of": "2026-03-15"}, headers=h).json()
    assert summary["totals"] == {"order_amount": "27000.50", "planned": "27000.50", "paid": "12000.00",
                                 "overdue": "8000.00"}
    assert [(p["due_on"], p["outstanding"], p["overdue"]) for p in summary["plans"]] == [
        ("2026-02-01", "0.00", False), ("2026-03-01", "8000.00", True), ("2026-06-01", "7000.50", False)]
    report = client.get("/api/v1/receivables/overdue", params={"as_of": "2026-03-15"}, headers=h).json()
    assert report["orders"] == [{"order_no": no, "customer_no": order["customer_no"], "status": "draft",
                                 "overdue_amount": "8000.00", "overdue_plans": 1, "oldest_due_on": "2026-03-01",
                                 "days_overdue": 14}]
    assert report["customers"] == [{"customer_no": order["customer_no"], "overdue_amount": "8000.00", "orders": 1,
                                    "days_overdue": 14}]
    # the same data on other days: nothing due yet; everything due and a later payment not yet made
    early = client.get("/api/v1/receivables/overdue", params={"as_of": "2026-02-01"}, headers=h).json()
    assert early["orders"] == []  # due on the day itself is not overdue
    _pay(client, h, no, "2026-07-01", "15000.50")
    late = client.get("/api/v1/receivables/overdue", params={"as_of": "2026-06-30"}, headers=h).json()
    assert late["orders"][0]["overdue_amount"] == "15000.50" and late["orders"][0]["overdue_plans"] == 2
    assert client.get("/api/v1/receivables/overdue", params={"as_of": "2026-07-01"},
                      headers=h).json()["orders"] == []
    assert audit_rows(client.app.state.kehu, "receivable.overdue")[0].fields.startswith("payment_plan.amount")


def test_overdue_in_the_service_with_an_explicit_day(kehu, world, order):
    with kehu.db.reader() as s:
        report = payments.overdue(s, world.ctx("alice"), today=date(2026, 3, 2))
    assert report["orders"][0]["overdue_amount"] == "20000.00" and report["orders"][0]["days_overdue"] == 29
    with kehu.db.reader() as s:
        assert payments.overdue(s, world.ctx("bob"), today=date(2026, 3, 2))["orders"] == []  # out of scope


def test_sums_may_not_exceed_the_order_total(kehu, client, api, order):
    h, no = api("alice"), order["order_no"]
    r = client.post(f"/api/v1/orders/{no}/payments/plans", json={"due_on": "2026-07-01", "amount": "0.01"},
                    headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "payment_plan_exceeds_total"
    r = client.post(f"/api/v1/orders/{no}/payments", json={"paid_on": "2026-07-01", "amount": "27000.51",
                                                           "method": "cash"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "payment_exceeds_total"
    r = client.post(f"/api/v1/orders/{no}/payments",
                    json={"paid_on": "昨天", "amount": "0", "method": "barter", "account": "12ab",
                          "handler_id": "nobody"}, headers=h)
    assert r.status_code == 422
    assert {e["field"]: e["code"] for e in r.json()["errors"]} == {
        "paid_on": r.json()["errors"][0]["code"], "method": "invalid_choice", "account": "account_invalid",
        "amount": "amount_not_positive", "handler_id": "handler_not_found"}
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0


def test_account_encrypted_at_rest_masked_and_revealed_with_reason(kehu, world, db_url, client, api, order):
    h, no = api("alice"), order["order_no"]
    paid = _pay(client, h, no, "2026-02-10", "5000", account=ACCOUNT)
    assert paid["account"] == "****7889" and "account" in paid["_masked"] and paid["handler_id"]
    shown = client.get(f"/api/v1/orders/{no}/payments", headers=h).json()["payments"][0]
    assert shown["account"] == "****7889" and shown["handler_name"] == "Alice"
    url = f"/api/v1/orders/{no}/payments/{paid['id']}/reveal"
    r = client.post(url, json={"fields": ["account"], "reason": "核对到账"}, headers=h)
    assert r.status_code == 403  # staff holds no reveal@1
    r = client.post(url, json={"fields": ["account"], "reason": " "}, headers=api("info"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "reason_required"
    r = client.post(url, json={"fields": ["account"], "reason": "核对到账"}, headers=api("info"))
    assert r.status_code == 200 and r.json()["values"] == {"account": ACCOUNT}
    reveals = [a for a in audit_rows(kehu, "customer.reveal") if a.outcome == "ok"]
    assert len(reveals) == 1 and reveals[0].fields == "payment.account" and reveals[0].reason == "核对到账"
    assert reveals[0].target_type == "payment" and reveals[0].customer_no == order["customer_no"]
    assert all(ACCOUNT not in (a.detail or "") + (a.fields or "") for a in audit_rows(kehu, "payment.create"))
    other = f"/api/v1/orders/{no}/payments/{'0' * 32}/reveal"
    assert client.post(other, json={"fields": ["account"], "reason": "核对"}, headers=api("info")).status_code == 404
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        haystack = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    else:
        chunks = []
        with kehu.db.engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    chunks.append(repr(tuple(row)).encode())
                    chunks += [bytes(v) for v in row if isinstance(v, (bytes, memoryview))]
        haystack = b"\n".join(chunks)
    assert haystack and ACCOUNT.encode() not in haystack and ACCOUNT.encode("utf-16-le") not in haystack


def test_events_published_only_after_commit(kehu, world, order):
    seen: list[events.Event] = []
    events.subscribe("order.created", seen.append)
    events.subscribe("payment.recorded", seen.append)
    try:
        alice = world.ctx("alice")
        with kehu.db.transaction() as s:
            created = service.create(s, alice, customer_no=order["customer_no"], data={},
                                     items=[{"product_id": "CRM-STD", "quantity": "1", "unit_price": "1"}])
            assert seen == []  # staged, not yet committed
        assert [e.name for e in seen] == ["order.created"]
        assert seen[0].payload["order_no"] == created["order_no"] and seen[0].payload["customer_no"]
        with pytest.raises(RuntimeError), kehu.db.transaction() as s:
            payments.add(s, alice, order_no=order["order_no"], entity="payment",
                         data={"paid_on": "2026-02-01", "amount": "1", "method": "cash"})
            raise RuntimeError("the request failed after the service call")
        with pytest.raises(Exception), kehu.db.transaction() as s:  # refused: nothing staged survives
            payments.add(s, alice, order_no=order["order_no"], entity="payment",
                         data={"paid_on": "2026-02-01", "amount": "999999", "method": "cash"})
        assert [e.name for e in seen] == ["order.created"]
        with kehu.db.transaction() as s:
            payments.add(s, alice, order_no=order["order_no"], entity="payment",
                         data={"paid_on": "2026-02-01", "amount": "1", "method": "cash"})
        assert [e.name for e in seen] == ["order.created", "payment.recorded"]
        assert len({e.id for e in seen}) == 2
        with kehu.db.reader() as s:
            assert s.scalar(select(func.count()).select_from(Payment)) == 1
    finally:
        events.unsubscribe("order.created", seen.append)
        events.unsubscribe("payment.recorded", seen.append)


def test_failing_subscriber_does_not_undo_the_commit(kehu, world, order):
    def broken(_evt):
        raise ValueError("subscriber bug")

    events.subscribe("payment.recorded", broken)
    try:
        with kehu.db.transaction() as s:
            payments.add(s, world.ctx("alice"), order_no=order["order_no"], entity="payment",
                         data={"paid_on": "2026-01-15", "amount": "100", "method": "cash"})
    finally:
        events.unsubscribe("payment.recorded", broken)
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
