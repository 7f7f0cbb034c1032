"""The presenter: a record's full view (every field, no reveal) comes from a plan made once per principal; it
must give exactly what the field-by-field path gives, for every role, hidden, masked, plain and minor alike."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from kehu.catalog.presenter import present
from kehu.customers import repository as repo
from kehu.customers.models import Customer
from kehu.customers import service
from kehu.customers.service import CHILDREN, minor_of, vault_of
from tests.fixtures.world import USERS, create_customer, customer_data, id_number


def _same(a, b) -> None:
    assert list(a.values.items()) == list(b.values.items())  # same keys, values and order (the JSON bytes)
    assert a.masked == b.masked and a.hidden == b.hidden


def test_the_full_view_equals_the_field_by_field_view_for_every_role(kehu, world):
    alice = world.ctx("alice")
    kids = {"contact": [{"name": "王经理", "title": "采购经理", "mobile": "13800138000"}],
            "address": [{"label": "收货地址", "province": "上海市", "city": "上海市", "street": "浦东大道1号"}],
            "anniversary": [{"kind": "wedding", "day": "2015-10-01", "note": "十周年"}],
            "relation": [{"kind": "assistant", "name": "赵助理", "mobile": "13700137000"}]}
    with kehu.db.transaction() as s:
        full = service.create(s, alice, data=customer_data(importance="key", occupation="采购总监", allergies="花生过敏"),
                              children=kids, reason="测试").archive_no
    nos = [full, create_customer(kehu, as_user=alice, kind="organisation", registered_capital="500.50"),
           create_customer(kehu, as_user=alice, id_number=id_number(7, born=date.today() - timedelta(days=3000)))]
    checked, seen = 0, set()
    for username in USERS:
        ctx = world.ctx(username)
        with kehu.db.reader() as s:
            orm = {c.archive_no: c for c in s.execute(select(Customer).where(Customer.archive_no.in_(nos))).scalars()}
            for no in nos:
                row = repo.row_by_no(s, world.ctx("info").principal, no)  # the plain row the detail read presents
                vault, minor = vault_of(ctx, row), minor_of(row)
                records = [("customer", row), ("customer", orm[no])]
                for entity, (model, _attr) in CHILDREN.items():
                    records += [(entity, r) for r in repo.child_rows(s, model, row.id)]
                for entity, record in records:
                    every = [spec.name for spec in ctx.catalog.of(entity)]
                    fast = present(ctx.principal, ctx.catalog, entity, record, vault, minor=minor)
                    _same(fast, present(ctx.principal, ctx.catalog, entity, record, vault, minor=minor, only=every))
                    checked += 1
                    seen |= {entity} | ({"masked"} if fast.masked else set()) | ({"hidden"} if fast.hidden else set())
    assert checked >= len(USERS) * 10
    assert seen == {"customer", *CHILDREN, "masked", "hidden"}
    assert any(minor_of(c) for c in orm.values())  # a minor's data (level 1) was among them
