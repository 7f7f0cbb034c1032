"""Helpers of the tag tests: customers and back-dated records written straight into the store."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal

import re

import pytest
from sqlalchemy import insert

from kehu.access import service as access
from kehu.kit.ids import new_id
from kehu.orders.models import Order, OrderItem, Product, ProductLine
from kehu.web.session import SESSION_COOKIE
from tests.fixtures.world import create_customer

AS_OF = date(2026, 6, 30)


def at(d: date, hour: int = 10) -> datetime:
    """A UTC moment on a day."""
    return datetime.combine(d, time(hour), tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def frame_in_parts(monkeypatch):
    """On SQLite every full evaluation of these tests computes its frame in parts, as on a large store."""
    from kehu.tags import engine

    monkeypatch.setattr(engine, "PARALLEL_MIN", 0)


@pytest.fixture
def lines(kehu) -> dict[str, str]:
    """Two product lines with one product each: product id by line code."""
    out = {}
    with kehu.db.transaction() as s:
        for code, name in (("SW", "软件"), ("HW", "硬件")):
            lid, pid = new_id(), new_id()
            s.execute(insert(ProductLine.__table__).values(id=lid, code=code, name=name))
            s.execute(insert(Product.__table__).values(id=pid, code=f"P-{code}", name=name, line_id=lid, active=True))
            out[code] = pid
    return out


_seq = {"n": 0}


def add_order(kehu, customer_id: str, *, on: date, amount, status: str = "completed",
              product_id: str | None = None) -> str:
    """An order (with one item when a product is given) entered on a given day."""
    _seq["n"] += 1
    oid = new_id()
    with kehu.db.transaction() as s:
        s.execute(insert(Order.__table__).values(
            id=oid, customer_id=customer_id, order_no=f"HT2026T{_seq['n']:06d}", status=status,
            delivery_status="pending", total_amount=Decimal(str(amount)), created_at=at(on), updated_at=at(on)))
        if product_id:
            s.execute(insert(OrderItem.__table__).values(id=new_id(), order_id=oid, customer_id=customer_id, line_no=1,
                                                          product_id=product_id,
                                                          quantity=Decimal(1), unit_price=Decimal(str(amount)),
                                                          amount=Decimal(str(amount))))
    return oid


def customer_id(kehu, archive_no: str) -> str:
    """Row id of an archive."""
    from sqlalchemy import select

    from kehu.customers.models import Customer

    with kehu.db.reader() as s:
        return s.execute(select(Customer.id).where(Customer.archive_no == archive_no)).scalar_one()


def new_customer(kehu, world, **data) -> str:
    """Create a customer as the information manager; returns its row id (no 身份证号 unless given)."""
    data.setdefault("id_number", None)
    return customer_id(kehu, create_customer(kehu, as_user=world.ctx("info"), **data))


@pytest.fixture
def browse(client, kehu, world):
    """`browse(user)`: the test client signed in to the web UI as that user."""
    def go(username: str):
        with kehu.db.transaction() as s:
            result = access.login(s, kehu=kehu, username=username, password=world.password, ip="127.0.0.1",
                                  kind="web")
        client.cookies.set(SESSION_COOKIE, result.token)
        return client
    return go


def csrf_of(html: str) -> str:
    """The CSRF token of a page's form."""
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
