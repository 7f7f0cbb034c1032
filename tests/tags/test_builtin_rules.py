"""Every built-in rule against an independent Python computation, with values exactly at each threshold."""
from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, delete, insert, select

from kehu.tags import engine
from kehu.tags.models import CustomerTag, Tag, TagHistory
from tests.tags.conftest import AS_OF, add_order, new_customer

TIER_1 = {"北京", "上海", "广州", "深圳"}
NEW_1 = {"成都", "重庆", "杭州", "武汉", "苏州", "西安", "南京", "长沙", "天津", "郑州", "东莞", "青岛", "昆明", "宁波",
         "合肥"}
TIER_2 = {"佛山", "沈阳", "无锡", "济南", "厦门", "福州", "温州", "哈尔滨", "石家庄", "大连", "南宁", "泉州", "金华",
          "贵阳", "常州", "长春", "南昌", "南通", "嘉兴", "徐州", "惠州", "太原", "台州", "绍兴", "保定", "中山", "潍坊",
          "临沂", "珠海", "烟台", "兰州"}


def years_old(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def expected(c: dict, orders: list[tuple[date, Decimal]]) -> set[str]:
    """The SPEC §6 tags of one customer, computed independently of the rule language."""
    out = set()
    if c.get("birth_date"):
        age = years_old(date.fromisoformat(c["birth_date"]), AS_OF)
        for code, lo, hi in (("age_18_25", 18, 25), ("age_26_35", 26, 35), ("age_36_45", 36, 45), ("age_over_45", 46, 999)):
            if lo <= age <= hi:
                out.add(code)
    out |= {"M": {"gender_male"}, "F": {"gender_female"}}.get(c.get("gender"), set())
    city, district = (c.get("city") or "").removesuffix("市"), c.get("district") or ""
    if district.endswith(("县", "旗")):
        out.add("rural")
    elif city:
        out.add("tier_1" if city in TIER_1 else "tier_new1" if city in NEW_1 else "tier_2" if city in TIER_2 else "tier_3")
    occ = c.get("occupation") or ""
    for code, words in (("occ_manager", "经理 总监 总裁 董事 主管"), ("occ_education", "教师 老师 教授"),
                        ("occ_medical", "医生 护士 医师"), ("occ_engineer", "工程师 程序员 技术员"), ("occ_civil", "公务员"),
                        ("occ_student", "学生")):
        if any(w in occ for w in words.split()):
            out.add(code)
    past = [(d, a) for d, a in orders if d <= AS_OF]
    n30 = sum(1 for d, _ in past if (AS_OF - d).days < 30)
    n90 = sum(1 for d, _ in past if (AS_OF - d).days < 90)
    year = sum((a for d, a in past if (AS_OF - d).days < 365), Decimal(0))
    if n30 >= 3:
        out.add("freq_high")
    elif n30 >= 1:
        out.add("freq_medium")
    elif past and n90 <= 1:
        out.add("freq_low")
    if year >= 100000:
        out.add("amount_high")
    elif year >= 30000:
        out.add("amount_medium")
    elif past:
        out.add("amount_low")
    if past:
        since = (AS_OF - max(d for d, _ in past)).days
        out.add("active" if since <= 90 else "dormant" if since < 180 else "churned")
    return out


RULE_CODES = None


@pytest.mark.parametrize("word_bits, parts", [(engine.WORD_BITS, 1), (4, 3)],
                         ids=["one-mask-word-one-frame-part", "many-mask-words-three-frame-parts"])
def test_builtin_rules_match_an_independent_computation(kehu, world, monkeypatch, word_bits, parts):
    monkeypatch.setattr(engine, "WORD_BITS", word_bits)  # 4 rules a word: masks spread over ~8 words
    monkeypatch.setattr(engine, "FRAME_PARTS", parts)  # SQLite: the frame in three threads and scratch files
    rng = random.Random(6)
    people: list[tuple[dict, list]] = []
    # boundaries: birthdays exactly on AS_OF at each band edge, and the day after
    for years in (17, 18, 25, 26, 35, 36, 45, 46):
        for shift in (0, 1):
            born = date(AS_OF.year - years, AS_OF.month, AS_OF.day) + timedelta(days=shift)
            people.append(({"birth_date": born.isoformat(), "gender": "F"}, []))
    people.append(({"birth_date": "2008-02-29", "gender": "U"}, []))
    for city, district in (("北京市", "朝阳区"), ("成都", None), ("佛山市", "禅城区"), ("邯郸市", None),
                           ("保定市", "涞源县"), ("呼和浩特市", "土默特左旗")):
        people.append(({"city": city, "district": district, "gender": "M", "occupation": rng.choice(
            ["销售经理", "中学教师", "护士", "软件工程师", "公务员", "学生", "自由职业"])}, []))
    people.append(({"city": None, "province": None, "district": None}, []))
    d = AS_OF
    # purchase counts at the 30/90-day edges, amounts at the 30,000/100,000 edges, recency at 90/180
    people += [
        ({}, [(d - timedelta(days=29), Decimal(10))] * 3),                      # 3 within 30 days → high
        ({}, [(d - timedelta(days=29), Decimal(10))] * 2 + [(d - timedelta(days=30), Decimal(10))]),  # 2 → medium
        ({}, [(d - timedelta(days=30), Decimal(10))]),                           # 0 in 30, 1 in 90 → low
        ({}, [(d - timedelta(days=89), Decimal(10))] * 2),                       # 2 in 90 → no frequency tag
        ({}, [(d - timedelta(days=90), Decimal(10))] * 2),                       # outside the quarter → low
        ({}, [(d - timedelta(days=364), Decimal("100000"))]),                    # exactly 100,000 in the year
        ({}, [(d - timedelta(days=365), Decimal("100000")), (d, Decimal("29999.99"))]),
        ({}, [(d - timedelta(days=10), Decimal("30000"))]),
        ({}, [(d - timedelta(days=90), Decimal(1))]),                            # 90 days ago → active
        ({}, [(d - timedelta(days=91), Decimal(1))]),                            # dormant
        ({}, [(d - timedelta(days=179), Decimal(1))]),
        ({}, [(d - timedelta(days=180), Decimal(1))]),                           # churned
        ({}, [(d + timedelta(days=1), Decimal(5000))]),                          # after the evaluation day: ignored
    ]
    for _ in range(25):  # and random ones
        orders = [(d - timedelta(days=rng.randint(0, 500)), Decimal(rng.choice([500, 9999, 30000, 45000, 100000])))
                  for _ in range(rng.randint(0, 8))]
        people.append(({"birth_date": (date(1950, 1, 1) + timedelta(days=rng.randint(0, 25000))).isoformat(),
                        "gender": rng.choice("MFU"), "city": rng.choice(["上海市", "杭州", "温州", "丽江", "北京"])},
                       orders))
    ids = []
    for data, orders in people:
        data.update({k: data.get(k) for k in ("gender", "birth_date", "city", "district", "occupation")})
        cid = new_customer(kehu, world, **data)
        for on, amount in orders:
            add_order(kehu, cid, on=on, amount=amount)
        ids.append(cid)
    with kehu.db.transaction() as s:
        stats = engine.evaluate_all(s, world.ctx("info").catalog, as_of=AS_OF)
    assert stats["customers"] >= len(ids)
    with kehu.db.reader() as s:
        got: dict[str, set[str]] = {cid: set() for cid in ids}
        codes = set(s.execute(select(Tag.code).where(Tag.builtin.is_(True), Tag.mode == "rule",
                                                       Tag.code.not_like("pref_%"), Tag.code != "potential")).scalars())
        for cid, code in s.execute(select(CustomerTag.customer_id, Tag.code).join(Tag, Tag.id == CustomerTag.tag_id)):
            if code in codes:
                got[cid].add(code)
    for (data, orders), cid in zip(people, ids):
        assert got[cid] == expected(data, orders), (data, orders)
    # the thresholds themselves were hit: every rule tag of SPEC §6 was given to someone
    assert {"freq_high", "freq_medium", "freq_low", "amount_high", "amount_medium", "amount_low", "active", "dormant",
            "churned", "rural", "tier_1", "tier_new1", "tier_2", "tier_3", "age_18_25", "age_over_45"} <= set().union(*got.values())


def test_full_evaluation_is_idempotent_and_records_history(kehu, world):
    cid = new_customer(kehu, world, birth_date="1990-01-01")
    add_order(kehu, cid, on=AS_OF - timedelta(days=5), amount=500)
    cat = world.ctx("info").catalog
    with kehu.db.transaction() as s:
        first = engine.evaluate_all(s, cat, as_of=AS_OF)
    with kehu.db.transaction() as s:
        second = engine.evaluate_all(s, cat, as_of=AS_OF)
    assert sum(c["gained"] for c in first["changes"].values()) >= 4
    assert all(c == {"gained": 0, "lost": 0} for c in second["changes"].values())
    with kehu.db.transaction() as s:  # a year later the customer is churned: active lost, churned gained
        later = engine.evaluate_all(s, cat, as_of=AS_OF + timedelta(days=365))
    assert later["changes"]["active"]["lost"] == 1 and later["changes"]["churned"]["gained"] == 1


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_frame_in_parts_equals_one_part_and_leaves_nothing_behind(kehu, world, monkeypatch, outcome):
    from kehu.tags.compiler import frame_select

    for i in range(7):
        cid = new_customer(kehu, world, birth_date=f"19{70 + i}-01-01")
        for k in range(i):
            add_order(kehu, cid, on=AS_OF - timedelta(days=40 * k), amount=1000 * (i + 1))
    aggs = set(engine.grade_aggs(365).values())

    def frame_rows(parts: int) -> list:
        monkeypatch.setattr(engine, "FRAME_PARTS", parts)
        stmt = frame_select([], AS_OF, extra_aggs=aggs)
        frame = engine.temp_table("t_frame", [Column(c.key, c.type) for c in stmt.selected_columns])
        with kehu.db.transaction() as s:
            conn = s.connection()
            frame.create(conn)
            with engine._page_cache(conn, 5000):  # the parts take it on while they run
                engine.fill_frame(conn, frame, lambda r: frame_select([], AS_OF, extra_aggs=aggs, id_range=r))
            rows = conn.execute(select(frame)).all()
            frame.drop(conn)
            if outcome == "rollback":
                s.rollback()
        return rows

    one, three = frame_rows(1), frame_rows(3)
    assert len(one) >= 7 and sorted(one) == sorted(three)
    assert [r[0] for r in three] == sorted(r[0] for r in three)  # the parts in id order, as one statement gives
    if kehu.db.dialect == "sqlite":  # the parts' scratch files are gone; no pooled connection keeps one attached
        assert not list(Path(kehu.db.engine.url.database).resolve().parent.glob(".kehu-frame-*"))
        conns = [kehu.db.engine.connect() for _ in range(3)]  # the evaluating one among them (LIFO pool)
        try:
            for c in conns:
                assert {r[1] for r in c.exec_driver_sql("PRAGMA database_list")} <= {"main", "temp"}
                assert c.exec_driver_sql("PRAGMA cache_size").scalar() == -2000  # SQLite's default, restored
        finally:
            for c in conns:
                c.close()


def test_full_evaluation_repairs_drifted_tags_and_keeps_tags_held_by_hand(kehu, world):
    cid = new_customer(kehu, world, birth_date="1990-01-01")
    add_order(kehu, cid, on=AS_OF - timedelta(days=5), amount=500)
    cat = world.ctx("info").catalog
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, cat, as_of=AS_OF)
        ids = dict(s.execute(select(Tag.code, Tag.id)).all())
    now = datetime.now(timezone.utc)
    with kehu.db.transaction() as s:  # drift: a rule tag lost, a wrong one held by rule, a wrong one held by hand
        ct = CustomerTag.__table__
        s.execute(delete(ct).where(ct.c.customer_id == cid, ct.c.tag_id == ids["active"]))
        s.execute(insert(ct), [dict(customer_id=cid, tag_id=ids["churned"], source="rule", rule_version=1, since=now),
                               dict(customer_id=cid, tag_id=ids["dormant"], source="manual", rule_version=None,
                                    since=now)])
    with kehu.db.transaction() as s:
        stats = engine.evaluate_all(s, cat, as_of=AS_OF)
    assert stats["changes"]["active"] == {"gained": 1, "lost": 0}
    assert stats["changes"]["churned"] == {"gained": 0, "lost": 1}
    assert stats["changes"]["dormant"] == {"gained": 0, "lost": 0}  # held by hand: a rule never takes it away
    with kehu.db.reader() as s:
        held = dict(s.execute(select(Tag.code, CustomerTag.source).join(Tag, Tag.id == CustomerTag.tag_id)
                              .where(CustomerTag.customer_id == cid)).all())
        last = s.execute(select(Tag.code, TagHistory.change).join(Tag, Tag.id == TagHistory.tag_id)
                         .where(TagHistory.customer_id == cid).order_by(TagHistory.seq.desc()).limit(2)).all()
    assert held["active"] == "rule" and held["dormant"] == "manual" and "churned" not in held
    assert set(last) == {("active", "gained"), ("churned", "lost")}


def test_product_line_preference(kehu, world, lines):
    cid = new_customer(kehu, world)
    add_order(kehu, cid, on=AS_OF - timedelta(days=3), amount=400, product_id=lines["SW"])
    add_order(kehu, cid, on=AS_OF - timedelta(days=3), amount=600, product_id=lines["HW"])
    other = new_customer(kehu, world)
    add_order(kehu, other, on=AS_OF - timedelta(days=3), amount=399, product_id=lines["SW"])
    add_order(kehu, other, on=AS_OF - timedelta(days=3), amount=601, product_id=lines["HW"])
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, world.ctx("info").catalog, as_of=AS_OF)
    with kehu.db.reader() as s:
        rows = set(s.execute(select(CustomerTag.customer_id, Tag.code).join(Tag).where(Tag.code.like("line_%"))).all())
    # 40 % of the year's item spend is the threshold: 400/1000 qualifies, 399/1000 does not
    assert rows == {(cid, "line_sw"), (cid, "line_hw"), (other, "line_hw")}


def test_cli_evaluates_everyone_and_reports_the_changes(kehu, world, monkeypatch):
    from typer.testing import CliRunner

    from kehu.cli import app

    cid = new_customer(kehu, world, birth_date="1990-01-01")
    add_order(kehu, cid, on=AS_OF - timedelta(days=5), amount=500)
    monkeypatch.setattr("kehu.runtime.Kehu", lambda: kehu)
    result = CliRunner().invoke(app, ["tags", "evaluate", "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    assert "新增标签" in result.output and "等级有变化" in result.output
    again = CliRunner().invoke(app, ["tags", "evaluate", "--as-of", AS_OF.isoformat()])
    assert "新增标签 0，移除 0；等级有变化 0 个" in again.output
    with kehu.db.reader() as s:
        held = set(s.execute(select(Tag.code).join(CustomerTag, CustomerTag.tag_id == Tag.id)
                             .where(CustomerTag.customer_id == cid)).scalars())
    assert {"active", "age_36_45"} <= held



def test_items_are_read_customer_by_customer(kehu):
    """The frame walks a customer's orders and finds each order's lines by (customer, order) — SQLite must
    never choose to read every order line and look its order up, even without statistics; `unindexed` keeps
    that join one-way (`+col` on SQLite only)."""
    from kehu.db import unindexed
    from kehu.orders.models import Order
    from kehu.tags.builtin import LINE_RULE
    from kehu.tags.compiler import Env, check, source_selects

    rendered = str(select(unindexed(Order.__table__.c.customer_id)).compile(kehu.db.engine))
    if kehu.db.engine.dialect.name != "sqlite":
        assert "+" not in rendered and "orders.customer_id" in rendered
        return
    assert "+orders.customer_id" in rendered
    with kehu.db.reader() as s:
        rule = check(LINE_RULE.format(code="SW"), Env(catalog=kehu.catalog(s), as_of=AS_OF))
        sqls = [str(source_selects(rule, AS_OF, customer_ids=ids)["items"].compile(
            s.connection(), compile_kwargs={"literal_binds": True})) for ids in (None, ["x"])]
    # the statistics of the 1M store after migration 0022 rebuilt order_items (none for it yet), under which
    # SQLite chose to read all 16M lines when the join could be walked both ways
    raw = sqlite3.connect(kehu.db.engine.url.database)
    try:
        raw.execute("ANALYZE sqlite_schema")
        raw.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", [
            ("orders", "ix_orders_status", "8214000 2001"), ("orders", "ix_orders_customer", "7733440 10 1"),
            ("orders", "sqlite_autoindex_orders_1", "10134720 1")])
        raw.commit()
        fresh = sqlite3.connect(kehu.db.engine.url.database)  # statistics are read when a connection opens
        for sql in sqls:
            plan = " | ".join(r[-1] for r in fresh.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN orders USING COVERING INDEX ix_orders_customer_activity" in plan or (
                "SEARCH orders USING COVERING INDEX ix_orders_customer_activity (customer_id=?" in plan), plan
            assert "SEARCH order_items USING COVERING INDEX ix_order_items_customer (customer_id=? AND order_id=?)" in plan, plan
        fresh.close()
    finally:
        raw.execute("DELETE FROM sqlite_stat1")
        raw.commit()
        raw.close()
