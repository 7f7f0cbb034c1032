"""Grades by the SPEC §6 ranking rules (configurable ranks), stars, RFM quintiles and their explanations."""
from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, insert, select, update

from kehu.kit.ids import new_id
from kehu.leads.models import Lead
from kehu.tags import engine, service
from kehu.tags.models import CustomerGrade
from tests.fixtures.world import create_customer
from tests.tags.conftest import AS_OF, add_order, at, customer_id


def _setup(kehu, world):
    info = world.ctx("info")
    nos = {k: create_customer(kehu, as_user=info, id_number=None) for k in
           ("top1", "top2", "third", "fourth", "frequent", "vip", "yearly", "lead", "nobody")}
    ids = {k: customer_id(kehu, no) for k, no in nos.items()}
    recent = AS_OF - timedelta(days=10)
    for key, amount in (("top1", 9000), ("top2", 8000), ("third", 7000), ("fourth", 6000)):
        add_order(kehu, ids[key], on=recent, amount=amount)
    for _ in range(5):
        add_order(kehu, ids["frequent"], on=recent, amount=100)
    add_order(kehu, ids["vip"], on=recent, amount=50)
    add_order(kehu, ids["yearly"], on=AS_OF - timedelta(days=200), amount=3000)
    with kehu.db.transaction() as s:
        s.execute(insert(Lead.__table__).values(id=new_id(), customer_id=ids["lead"], title="新系统", stage="C",
                                                created_at=at(AS_OF), updated_at=at(AS_OF)))
        service.put_settings(s, info, data={"grade": {"a_top": 2, "b_top": 4, "b_freq_top": 1}})
        service.set_manual(s, info, archive_no=nos["vip"], code="vip", on=True, reason="总经理指定")
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=AS_OF)
    return nos, ids


def test_grades_follow_the_ranking_rules(kehu, world):
    nos, ids = _setup(kehu, world)
    with kehu.db.reader() as s:
        grades = dict(s.execute(select(CustomerGrade.customer_id, CustomerGrade.grade)).all())
    got = {k: grades.get(cid) for k, cid in ids.items()}
    assert got == {"top1": "A", "top2": "A", "vip": "A", "third": "B", "fourth": "B", "frequent": "B",
                   "yearly": "C", "lead": "D", "nobody": None}


def test_a_re_evaluation_writes_only_changed_grades(client, api, kehu, world):
    nos, ids = _setup(kehu, world)
    cat = world.ctx("info").catalog
    with kehu.db.transaction() as s:
        again = engine.evaluate_all(s, cat, as_of=AS_OF)
    assert again["grades_written"] == 0
    g = CustomerGrade.__table__
    with kehu.db.transaction() as s:  # a stored row that drifted is rewritten, and only that one
        s.execute(update(g).where(g.c.customer_id == ids["yearly"]).values(stars=5, grade="A"))
        s.execute(delete(g).where(g.c.customer_id == ids["nobody"]))
    with kehu.db.transaction() as s:
        fixed = engine.evaluate_all(s, cat, as_of=AS_OF)
    assert fixed["grades_written"] == 2
    with kehu.db.reader() as s:
        rows = {r.customer_id: r for r in s.execute(select(g))}
    assert rows[ids["yearly"]].grade == "C" and rows[ids["nobody"]].grade is None and len(rows) >= len(ids)
    # an unchanged row was confirmed by the last full evaluation: its explanation says so
    body = client.get(f"/api/v1/customers/{nos['top1']}/grade", headers=api("info")).json()
    assert body["evaluated_at"] == fixed["at"]


def test_rfm_scores_are_quintiles_of_the_buyers(kehu, world):
    _nos, ids = _setup(kehu, world)
    with kehu.db.reader() as s:
        rows = {r.customer_id: r for r in s.execute(select(CustomerGrade.__table__))}
    buyers = [r for r in rows.values() if r.last_purchase is not None]

    def quintile(value, values):  # ceil(5 × share of buyers at or below the value)
        return math.ceil(5 * sum(1 for v in values if v <= value) / len(values))
    for r in buyers:
        assert r.m == quintile(r.spend_y, [b.spend_y for b in buyers])
        assert r.f == quintile(r.freq_y, [b.freq_y for b in buyers])
        assert r.r == quintile(r.last_purchase, [b.last_purchase for b in buyers])
        assert r.stars == min(5, (r.f + r.m + 1) // 2 + (1 if r.potential else 0))
    assert rows[ids["nobody"]].r == 0 and rows[ids["nobody"]].stars == 1
    assert rows[ids["lead"]].stars == 2  # potential: one star more


def test_why_is_this_customer_a(client, api, kehu, world):
    nos, _ids = _setup(kehu, world)
    r = client.get(f"/api/v1/customers/{nos['top1']}/grade", headers=api("info"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grade"] == "A" and "近90天消费额排名前2" in body["reasons"][0] and "¥9,000.00" in body["reasons"][0]
    vip = client.get(f"/api/v1/customers/{nos['vip']}/grade", headers=api("info")).json()
    assert vip["reasons"] == ["被指定为VIP客户（A级包含全部VIP）"]
    freq = client.get(f"/api/v1/customers/{nos['frequent']}/grade", headers=api("info")).json()
    assert any("购买次数排名前1" in x for x in freq["reasons"])
    lead = client.get(f"/api/v1/customers/{nos['lead']}/grade", headers=api("info")).json()
    assert lead["grade"] == "D" and "潜在客户" in lead["reasons"][0]
    # out of scope: 404 like a missing archive (bob sees only his own customers)
    assert client.get(f"/api/v1/customers/{nos['top1']}/grade", headers=api("bob")).status_code == 404


def test_top_n_is_exactly_n_with_ties_going_to_the_older_customer(kehu, world):
    info = world.ctx("info")
    ids = [customer_id(kehu, create_customer(kehu, as_user=info, id_number=None)) for _ in range(4)]
    for cid in ids:  # four customers with the same quarterly spend and frequency
        add_order(kehu, cid, on=AS_OF - timedelta(days=5), amount=1000)
    with kehu.db.transaction() as s:
        service.put_settings(s, info, data={"grade": {"a_top": 2, "b_top": 3, "b_freq_top": 1}})
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=AS_OF)
    with kehu.db.reader() as s:
        grades = dict(s.execute(select(CustomerGrade.customer_id, CustomerGrade.grade)).all())
    assert [grades[c] for c in sorted(ids)] == ["A", "A", "B", "C"]
