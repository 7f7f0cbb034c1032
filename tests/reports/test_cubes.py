"""The report cells follow every write (services, plain SQL, cascades) and equal a rebuild from the base rows."""
from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select, update

from kehu.customers import service as customers
from kehu.customers.models import Customer
from kehu.orders import payments, service as orders
from kehu.orders.models import Order, PaymentPlan
from kehu.reports import cubes, service
from kehu.reports.period import parse
from tests.fixtures.world import create_customer
from tests.orders.conftest import catalogue  # noqa: F401  (fixture)
from tests.reports import model
from tests.reports.conftest import load


def _check(kehu) -> dict:
    with kehu.db.engine.connect() as conn:
        diff = cubes.check(conn)
        conn.rollback()
    return diff


def test_generated_data_leaves_the_cells_equal_to_a_rebuild(kehu, data):
    assert _check(kehu) == {}
    with kehu.db.reader() as s:
        assert s.execute(select(Customer.id).limit(1)).first()


def test_owner_changes_moves_and_deletes_keep_the_cells_exact(kehu, world, data):
    with kehu.db.transaction() as s:
        ids = list(s.execute(select(Customer.id).order_by(Customer.id)).scalars())
        s.execute(update(Customer).where(Customer.id == ids[0]).values(owner_id=world.users["bob"],
                                                                        department_id=world.departments["north"]))
        s.execute(update(Customer).where(Customer.id == ids[1]).values(importance="key", province="江苏省",
                                                                        city="南京市"))
        s.execute(update(Customer).where(Customer.id == ids[2]).values(status="archived"))
        order = s.execute(select(Order.id).where(Order.customer_id == ids[3])).scalars().first()
        if order:
            s.execute(update(Order).where(Order.id == order).values(status="completed", total_amount=123.45))
            s.execute(update(PaymentPlan).where(PaymentPlan.order_id == order).values(due_on=date(2025, 1, 2)))
        victim = s.execute(select(Order.id).where(Order.customer_id == ids[4])).scalars().first()
        if victim:
            s.execute(delete(Order).where(Order.id == victim))  # plans and payments go by cascade
    with kehu.db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM customers WHERE id = ?" if kehu.db.engine.dialect.name == "sqlite"
                             else "DELETE FROM customers WHERE id = %s", (ids[5],))
    assert _check(kehu) == {}
    fresh = load(kehu)
    p, _ = parse("2025", today=date(2026, 1, 15))
    with kehu.db.reader() as s:
        body = service.growth(s, world.ctx("info"), period=p)
    assert (body["tables"][0]["rows"][0]["current"],) == (model.growth(world.ctx("info").principal, fresh,
                                                                       *p.months)["all"][3],)


def test_service_writes_reach_the_report(kehu, world, catalogue):  # noqa: F811
    head = world.ctx("head")
    no = create_customer(kehu, as_user=world.ctx("alice"))
    with kehu.db.transaction() as s:
        created = orders.create(s, head, customer_no=no, data={"start_on": "2026-02-10"},
                                items=[{"product_id": catalogue["crm"], "quantity": "2", "unit_price": "1000"}])
    with kehu.db.transaction() as s:
        orders.update(s, head, order_no=created["order_no"], data={"status": "signed"}, reason="签约")
    with kehu.db.transaction() as s:
        payments.add(s, head, order_no=created["order_no"], entity="payment_plan",
                     data={"due_on": "2026-03-01", "amount": "2000"})
    p, _ = parse("2026-Q1", today=date(2026, 3, 15))
    with kehu.db.reader() as s:
        body = service.sales(s, world.ctx("alice"), period=p, as_of=date(2026, 3, 15))
    row = body["tables"][0]["rows"][0]
    assert (row["orders"], row["sales"], row["planned"], row["overdue"], row["overdue_orders"]) == (
        1, "2000.00", "2000.00", "2000.00", 1)
    with kehu.db.transaction() as s:
        payments.add(s, head, order_no=created["order_no"], entity="payment",
                     data={"paid_on": "2026-03-05", "amount": "1500", "method": "transfer"})
    with kehu.db.reader() as s:
        row = service.sales(s, world.ctx("alice"), period=p, as_of=date(2026, 3, 15))["tables"][0]["rows"][0]
        before = service.sales(s, world.ctx("alice"), period=p, as_of=date(2026, 3, 3))["tables"][0]["rows"][0]
    assert (row["received"], row["overdue"]) == ("1500.00", "500.00")
    assert before["overdue"] == "2000.00"  # the payment came after that day
    with kehu.db.transaction() as s:  # the customer goes to bob: alice's report no longer holds it
        customers.update(s, world.ctx("info"), archive_no=no, data={"owner_id": world.users["bob"]},
                         reason="调整负责人")
    with kehu.db.reader() as s:
        assert service.sales(s, world.ctx("alice"), period=p, as_of=date(2026, 3, 15))["tables"][0]["rows"] == []
        bob = service.sales(s, world.ctx("bob"), period=p, as_of=date(2026, 3, 15))["tables"][0]["rows"]
    assert [r["sales"] for r in bob] == ["2000.00"]
    assert _check(kehu) == {}


def test_cli_check_finds_stale_cells_and_rebuild_repairs_them(kehu, data, monkeypatch, db_url):
    from typer.testing import CliRunner

    from kehu.cli import app
    from kehu.config import get_settings

    monkeypatch.setenv("KEHU_DATABASE_URL", db_url)
    monkeypatch.setenv("KEHU_KEYS", kehu.keys.to_json())
    get_settings.cache_clear()
    try:
        assert CliRunner().invoke(app, ["reports", "check"]).exit_code == 0
        with kehu.db.engine.begin() as conn:  # as if a restore had brought the rows back without their cells
            conn.exec_driver_sql("DELETE FROM report_sales_cells")
        bad = CliRunner().invoke(app, ["reports", "check"])
        assert bad.exit_code == 1 and "report_sales_cells" in bad.output
        assert CliRunner().invoke(app, ["reports", "rebuild"]).exit_code == 0
        assert _check(kehu) == {}
    finally:
        get_settings.cache_clear()
