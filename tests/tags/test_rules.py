"""The rule language on save: positions and Chinese messages, the level-1 restriction, lifecycle, dry-run scope."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kehu.access import service as access
from kehu.errors import Conflict, Forbidden, ValidationFailed
from kehu.tags import service
from kehu.tags.models import Tag
from kehu.tags.language import RuleError
from kehu.tags.service import today
from tests.fixtures.sql import statements
from tests.fixtures.world import create_customer
from tests.tags.conftest import add_order, customer_id


@pytest.fixture
def tagger(kehu, world) -> str:
    """User `tagger`: manages and reviews tags, sees levels 2–3 of own customers, no level-1 reveal."""
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code="tagger", name="标签员", scope="own",
                           capabilities=["manage_tags", "review_tags"])
        s.flush()
        access.set_grants(s, admin, role_code="tagger", grants=[("view", 2), ("view", 3), ("create", 2),
                                                               ("create", 3), ("view", 1), ("create", 1)])
        u = access.create_user(s, admin, username="tagger", display_name="Tagger", password=world.password,
                               role_code="tagger", department_id=world.departments["east"])
        world.users["tagger"] = u.id
    return "tagger"


@pytest.mark.parametrize("text, line, column, words", [
    ("count(orders, 30d) >=", 1, 22, "规则不完整"),
    ("age >> 3", 1, 6, "此处不应出现「>」"),
    ("age > 3 and\n  foo = 1", 2, 3, "客户字段「foo」不存在"),
    ('gender = "外星人"', 1, 10, "不是字段「性别」的可选值"),
    ("count(invoices, 30d) > 1", 1, 7, "数据来源「invoices」不存在"),
    ("sum(orders, 30d) > 1", 1, 5, "需要指定金额或数量列"),
    ('city = 3', 1, 8, "类型不一致"),
    ("days_since(orders) >= @nope", 1, 23, "参数「@nope」不存在"),
    ('has_tag("no_such_tag")', 1, 9, "标签「no_such_tag」不存在"),
    ("mobile = \"13900000000\"", 1, 1, "加密存储"),
    ("count(orders, 99999d) > 1", 1, 1, "时间窗口须在1–36500天之间"),
    ("age > 200", 1, 7, "年龄须在0–150之间"),
])
def test_invalid_rules_name_the_position_in_chinese(kehu, world, text, line, column, words):
    info = world.ctx("info")
    with kehu.db.transaction() as s, pytest.raises(RuleError) as err:
        service.save_draft(s, info, code="freq_high", expression=text)
    assert any(p[0] == line and p[1] == column and words in p[2] for p in err.value.problems), err.value.problems
    assert err.value.errors[0].message.startswith(f"第{line}行第{column}列：")


def test_syntax_errors_name_what_may_come_next_in_words_not_grammar_tokens():
    """A business user reads 「应为：加减号（+ -）…」, never the grammar's token names (ADDOP, MULOP …)."""
    import re

    from kehu.tags.language import _EXPECT_ZH, _parser, parse

    assert {t.name for t in _parser.terminals} <= set(_EXPECT_ZH)
    with pytest.raises(RuleError) as err:
        parse("sum(orders.total_amount, 365d) >= 2OOOOO")
    [(line, column, message)] = err.value.problems
    assert (line, column) == (1, 36) and "此处不应出现「OOOOO」" in message and "加减号（+ -）" in message
    assert not re.search(r"\b[A-Z]{3,}\b", message.split("应为：")[1]), message


def test_the_api_answers_422_with_the_position(client, api):
    r = client.post("/api/v1/tags/freq_high/versions", headers=api("info"), json={"expression": "count(orders) >"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "expression" and "第1行第16列" in r.json()["errors"][0]["message"]


def test_level1_fields_only_for_authors_with_the_right(kehu, world, tagger):
    rule = "bank_account is not empty"
    with kehu.db.transaction() as s, pytest.raises(RuleError) as err:
        service.save_draft(s, world.ctx("tagger"), code="freq_high", expression=rule)
    assert "一级敏感信息" in err.value.problems[0][2]
    with kehu.db.transaction() as s:  # the information manager may reveal level 1: the rule is accepted
        got = service.save_draft(s, world.ctx("info"), code="freq_high", expression=rule)
    assert got["versions"][0]["status"] == "draft"


def test_a_contradiction_rule_is_checked_on_save_like_a_rule(kehu, world):
    info = world.ctx("info")
    data = {"code": "big_buyer", "name": "大客户", "family": "value", "expression": "sum(orders.total_amount, 365d) >= 100000"}
    with kehu.db.transaction() as s, pytest.raises(ValidationFailed) as err:
        service.create_tag(s, info, data=data | {"contradiction": "count(orders, 90d) = "})
    [e] = err.value.errors
    assert (e.field, e.code) == ("contradiction", "rule_invalid") and e.message.startswith("矛盾规则第1行")
    with kehu.db.reader() as s:  # nothing written
        assert s.execute(select(Tag.id).where(Tag.code == "big_buyer")).first() is None
    with kehu.db.transaction() as s:
        got = service.create_tag(s, info, data=data | {"contradiction": "count(orders, 365d) = 0"})
    assert got["contradiction"] == "count(orders, 365d) = 0"


def test_lifecycle_draft_review_active_retired(kehu, world, tagger):
    info, head = world.ctx("info"), world.ctx("head")
    cid = customer_id(kehu, create_customer(kehu, as_user=info, id_number=None))
    for _ in range(2):
        add_order(kehu, cid, on=today() - timedelta(days=1), amount=10)
    with kehu.db.transaction() as s:
        service.create_tag(s, info, data={"code": "repeat_buyer", "name": "复购客户", "family": "behaviour",
                                          "expression": "count(orders) >= 2"})
    with kehu.db.transaction() as s, pytest.raises(Conflict):
        service.activate(s, info, code="repeat_buyer", version=1)  # not reviewed yet
    with kehu.db.transaction() as s, pytest.raises(Forbidden):
        service.review(s, info, code="repeat_buyer", version=1)  # no review_tags
    with kehu.db.transaction() as s:
        service.review(s, head, code="repeat_buyer", version=1)
    with kehu.db.transaction() as s:
        got = service.activate(s, info, code="repeat_buyer", version=1)
    assert got["applied"] == {"gained": 1, "lost": 0} and got["active_version"] == 1
    with kehu.db.transaction() as s:
        service.save_draft(s, world.ctx("tagger"), code="repeat_buyer", expression="count(orders) >= 3")
    with kehu.db.transaction() as s, pytest.raises(Conflict) as err:
        service.review(s, world.ctx("tagger"), code="repeat_buyer", version=2)
    assert err.value.code == "self_review"
    with kehu.db.transaction() as s:
        service.review(s, head, code="repeat_buyer", version=2)
        got = service.activate(s, info, code="repeat_buyer", version=2)
    assert got["applied"] == {"gained": 0, "lost": 1}
    assert [v["status"] for v in got["versions"]] == ["active", "retired"]
    with kehu.db.transaction() as s:
        got = service.retire(s, info, code="repeat_buyer", version=2)
    assert got["active_version"] is None


def test_dry_run_counts_everyone_but_lists_only_the_callers_scope(kehu, world, tagger):
    info, mine = world.ctx("info"), world.ctx("tagger")
    own = [customer_id(kehu, create_customer(kehu, as_user=mine, id_number=None)) for _ in range(2)]
    other = [customer_id(kehu, create_customer(kehu, as_user=info, id_number=None)) for _ in range(3)]
    for cid in own + other:
        add_order(kehu, cid, on=today() - timedelta(days=2), amount=50000)
    add_order(kehu, other[0], on=today() - timedelta(days=2), amount=60000)
    with kehu.db.transaction() as s:
        got = service.dry_run(s, mine, code="amount_high", expression="sum(orders.total_amount, 365d) >= 50000")
    assert got["count"] == 5 and got["count_in_scope"] == 2
    with kehu.db.reader() as s:
        from kehu.customers.models import Customer
        from sqlalchemy import select
        own_nos = set(s.execute(select(Customer.archive_no).where(Customer.id.in_(own))).scalars())
    assert {m["archive_no"] for m in got["members"]} == own_nos
    assert got["vs_active"]["active_count"] == 1 and got["vs_active"]["gained"] == 4
    assert {m["archive_no"] for m in got["vs_active"]["gained_members"]} == own_nos


def test_dry_run_reads_the_sources_once_and_lists_the_customers_it_would_untag(kehu, world):
    """The frame's aggregates (seconds over a large store) are computed once for every count and list; a
    stricter draft names the customers it would take the tag from."""
    info = world.ctx("info")
    small, large = (customer_id(kehu, create_customer(kehu, as_user=info, id_number=None)) for _ in range(2))
    add_order(kehu, small, on=today() - timedelta(days=2), amount=120000)
    add_order(kehu, large, on=today() - timedelta(days=2), amount=300000)
    with statements(kehu.db.engine) as seen, kehu.db.transaction() as s:
        got = service.dry_run(s, info, code="amount_high", expression="sum(orders.total_amount, 365d) >= 200000")
    reads = [q for q in seen if "orders" in q.lower()]
    assert len(reads) == 1, reads
    with kehu.db.reader() as s:
        from sqlalchemy import select

        from kehu.customers.models import Customer
        no = dict(s.execute(select(Customer.id, Customer.archive_no).where(Customer.id.in_([small, large]))).all())
    assert (got["count"], got["count_in_scope"]) == (1, 1)
    assert [m["archive_no"] for m in got["members"]] == [no[large]]
    vs = got["vs_active"]
    assert (vs["active_count"], vs["gained"], vs["lost"]) == (2, 0, 1)
    assert [m["archive_no"] for m in vs["lost_members"]] == [no[small]] and vs["gained_members"] == []


def test_division_by_zero_is_false_not_an_error(kehu, world):
    with kehu.db.transaction() as s:
        got = service.dry_run(s, world.ctx("info"), code="freq_high", expression="count(orders) / 0 >= 0")
    assert got["count"] == 0
