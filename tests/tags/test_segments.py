"""Segments: saved filters over tags, grades and aggregates; export leaves out customers without consent."""
from __future__ import annotations

from datetime import timedelta

import pytest

from kehu.errors import Forbidden
from kehu.tags import engine, segments
from tests.fixtures.world import create_customer
from tests.tags.conftest import AS_OF, add_order, customer_id


@pytest.fixture
def buyers(kehu, world):
    info = world.ctx("info")
    nos = [create_customer(kehu, as_user=info, id_number=None) for _ in range(5)]
    for i, no in enumerate(nos):
        add_order(kehu, customer_id(kehu, no), on=AS_OF - timedelta(days=3 + i), amount=1000 * (i + 1))
    create_customer(kehu, as_user=info, id_number=None)  # never bought
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=AS_OF)
    return nos


def test_members_and_count(kehu, world, buyers):
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        seg = segments.save(s, info, data={"name": "活跃买家", "expression": 'has_tag("active") and grade in ["A", "B", "C"]'})
    with kehu.db.reader() as s:
        got = segments.members(s, info, segment_id=seg["id"])
    assert got["count"] == 5 and {m["archive_no"] for m in got["members"]} == set(buyers)


def test_export_excludes_customers_without_consent_and_says_how_many(kehu, world, buyers):
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        seg = segments.save(s, info, data={"name": "全部买家", "expression": "count(orders) >= 1"})
    consenting = {customer_id(kehu, no) for no in buyers[:2]}
    asked = []

    def stub_allows(_session, cid, purpose):  # stand-in for kehu.consent.allows
        asked.append(purpose)
        return cid in consenting
    delivered = []
    with kehu.db.transaction() as s:
        got = segments.export(s, info, segment_id=seg["id"], purpose="marketing", allows=stub_allows,
                              deliver=lambda rows: delivered.extend(rows) or len(rows))
    assert got["exported"] == 2 and got["excluded_no_consent"] == 3 and got["delivered"] == 2
    assert {r["archive_no"] for r in delivered} == set(buyers[:2]) and set(asked) == {"marketing"}


def test_export_needs_the_export_right(kehu, world, buyers):
    alice = world.ctx("alice")  # staff: no export grant
    with kehu.db.transaction() as s:
        seg = segments.save(s, alice, data={"name": "我的买家", "expression": "count(orders) >= 1"})
    with kehu.db.transaction() as s, pytest.raises(Forbidden):
        segments.export(s, alice, segment_id=seg["id"], allows=lambda *_: True)
