"""Generated report data (customers through the bulk path, records by plain inserts) and an independent model.

The records are written with plain SQL inserts/updates on purpose: the report cells must follow any
write path (the triggers see every row), not only the services.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from kehu.access import service as access
from kehu.complaints.models import Complaint
from kehu.customers import bulk
from kehu.customers.models import Customer
from kehu.kit.ids import new_id
from kehu.orders.models import Order, Payment, PaymentPlan
from tests.fixtures.world import customer_data, role_user

START = date(2025, 4, 1)  # data spans 2025-04 … 2026-10
DAYS = 570
PROVINCES = [("广东省", "广州市"), ("广东省", "深圳市"), ("浙江省", "杭州市"), ("北京市", "北京市"), (None, None)]
CHANNELS = ["web", "phone", "visit", "third_party", "referral", "event"]
ORDER_STATES = ["draft", "signed", "executing", "completed", "terminated", "cancelled"]


@dataclass
class Data:
    """The generated rows, read back from the store after every write (the truth for the model)."""

    customers: list
    orders: list
    plans: list
    payments: list
    complaints: list


def _day(rng: random.Random) -> date:
    return START + timedelta(days=rng.randrange(DAYS))


def _moment(rng: random.Random) -> datetime:
    return datetime.combine(_day(rng), datetime.min.time(), tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(1440))


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def generate(kehu, world, *, seed: int = 5, n: int = 48) -> None:
    """Customers of several owners/departments/classes/channels/regions, then orders, payments, complaints."""
    rng = random.Random(seed)
    owners = ["alice", "alan", "bob", "carol", "head", "info"]
    rows = []
    for i in range(n):
        prov, city = PROVINCES[i % len(PROVINCES)]
        rows.append(customer_data(owner_id=world.users[owners[i % len(owners)]], importance=rng.choice(
            ["normal", "normal", "core", "key"]), source_channel=rng.choice(CHANNELS), province=prov, city=city))
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        res = bulk.create_many(s, info, rows, reason="测试")
        assert res.created == n, res.errors
    depts = list(world.departments.values())
    with kehu.db.transaction() as s:
        ids = list(s.execute(select(Customer.id).order_by(Customer.id)).scalars())
        for i, cid in enumerate(ids):  # spread creation over the months; archive some; pool one
            values = {"created_at": _moment(rng)}
            if i % 7 == 3:
                values.update(status="archived", updated_at=values["created_at"] + timedelta(days=rng.randrange(5, 200)))
            if i % 11 == 5:
                values.update(owner_id=None)
            s.execute(update(Customer).where(Customer.id == cid).values(**values))
        for cid in ids:
            for _ in range(rng.randrange(0, 4)):
                oid = new_id()
                total = _money(rng, 100, 50000)
                s.execute(Order.__table__.insert().values(
                    id=oid, customer_id=cid, order_no=f"HT{oid[-10:]}", status=rng.choice(ORDER_STATES),
                    delivery_status="pending", total_amount=total,
                    start_on=_day(rng) if rng.random() < 0.7 else None, created_at=_moment(rng),
                    updated_at=_moment(rng)))
                planned = Decimal(0)
                for _ in range(rng.randrange(0, 4)):
                    amount = min(total - planned, _money(rng, 50, 20000))
                    if amount <= 0:
                        break
                    planned += amount
                    s.execute(PaymentPlan.__table__.insert().values(
                        id=new_id(), order_id=oid, due_on=_day(rng), amount=amount, created_at=_moment(rng)))
                paid = Decimal(0)
                for _ in range(rng.randrange(0, 3)):
                    amount = min(total - paid, _money(rng, 50, 15000))
                    if amount <= 0:
                        break
                    paid += amount
                    s.execute(Payment.__table__.insert().values(
                        id=new_id(), order_id=oid, paid_on=_day(rng), amount=amount, method="transfer",
                        created_at=_moment(rng)))
            for _ in range(rng.randrange(0, 3)):
                handled = rng.random() < 0.6
                cno = new_id()
                s.execute(Complaint.__table__.insert().values(
                    id=cno, customer_id=cid, complaint_no=f"TS{cno[-10:]}",
                    status=rng.choice(["handled", "closed"]) if handled else "registered",
                    kind=rng.choice(["goods", "service", "other"]), channel="phone",
                    urgency=rng.choice(["critical", "urgent", "normal"]), received_on=_day(rng), content="内容",
                    handling=rng.choice(["return", "exchange", "discount", "repair"]) if handled else None,
                    loss_amount=_money(rng, 0, 3000) if handled else None,
                    responsible_department_id=rng.choice(depts) if handled else None,
                    created_at=_moment(rng), updated_at=_moment(rng)))


def load(kehu) -> Data:
    """Every row the reports draw on, as plain tuples."""
    with kehu.db.reader() as s:
        c = Customer
        customers = s.execute(select(c.id, c.owner_id, c.department_id, c.importance, c.province, c.city,
                                     c.source_channel, c.status, c.created_at, c.updated_at)).all()
        orders = s.execute(select(Order.id, Order.customer_id, Order.status, Order.total_amount, Order.start_on,
                                  Order.created_at)).all()
        plans = s.execute(select(PaymentPlan.order_id, PaymentPlan.due_on, PaymentPlan.amount)).all()
        payments = s.execute(select(Payment.order_id, Payment.paid_on, Payment.amount)).all()
        cols = Complaint
        complaints = s.execute(select(cols.customer_id, cols.kind, cols.handling, cols.responsible_department_id,
                                      cols.status, cols.loss_amount, cols.received_on)).all()
    return Data(list(customers), list(orders), list(plans), list(payments), list(complaints))


@pytest.fixture
def data(kehu, world):
    """The generated store (with `pub`, who sees level-3 fields only, and `noview`, who sees no customer)."""
    role_user(kehu, world, code="public_only", scope="all", grants=[("view", 3)], username="pub")
    role_user(kehu, world, code="no_view", scope="all", grants=[], username="noview")
    generate(kehu, world)
    return load(kehu)


@pytest.fixture
def principal_of(kehu, world):
    """`principal_of("head")` → the Principal of a world user."""
    def get(username: str):
        return world.ctx(username).principal
    return get


def sql_count(kehu, table: str) -> int:
    with kehu.db.reader() as s:
        return s.execute(text(f"SELECT count(*) FROM {table}")).scalar()


__all__ = ["Data", "generate", "load", "access"]
