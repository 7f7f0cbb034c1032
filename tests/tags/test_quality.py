"""Tag quality: coverage, contradictions flagged, sampled review giving an error rate."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from kehu.tags import engine, quality
from kehu.tags.models import CustomerTag, Tag
from kehu.tags.service import today
from tests.fixtures.world import create_customer
from tests.tags.conftest import add_order, customer_id


def _contradictions_tag_by_tag(s, ctx) -> dict[str, int]:
    """Each tag's contradiction rule over the frame of every customer, separately (an independent count)."""
    from sqlalchemy import func

    from kehu.tags.compiler import check, condition, frame_select

    env = engine.env_for(s, ctx.catalog, today())
    out = {}
    for tag in s.execute(select(Tag).where(Tag.contradiction.is_not(None))).scalars():
        rule = check(tag.contradiction, env)
        fr = frame_select(rule, env.as_of).subquery("fr")
        held = fr.c.customer_id.in_(select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag.id))
        out[tag.code] = s.execute(select(func.count()).select_from(fr).where(held, condition(rule, fr, env))).scalar_one()
    return out


def test_dashboard_flags_contradictions_and_counts_review_errors(kehu, world):
    info, head = world.ctx("info"), world.ctx("head")
    sales = world.departments["sales"]  # the department head reviews customers of the sales department
    buyer = customer_id(kehu, create_customer(kehu, as_user=info, id_number=None, department_id=sales))
    for _ in range(3):
        add_order(kehu, buyer, on=today() - timedelta(days=1), amount=10)
    idle = customer_id(kehu, create_customer(kehu, as_user=info, id_number=None, department_id=sales))
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
        tid = s.execute(select(Tag.id).where(Tag.code == "freq_high")).scalar_one()
        # a tag that contradicts the data: "high frequency" without any order in 90 days
        s.execute(insert(CustomerTag.__table__).values(customer_id=idle, tag_id=tid, source="manual",
                                                       since=engine.utcnow()))
    with kehu.db.reader() as s:
        board = quality.dashboard(s, info)
    row = next(t for t in board["tags"] if t["code"] == "freq_high")
    assert row["holders"] == 2 and row["contradictions"] == 1 and row["coverage"] == 1.0
    with kehu.db.transaction() as s:  # big spender by hand, with ¥30 of orders: contradicts amount_high only
        amount_high = s.execute(select(Tag.id).where(Tag.code == "amount_high")).scalar_one()
        s.execute(insert(CustomerTag.__table__).values(customer_id=buyer, tag_id=amount_high, source="manual",
                                                       since=engine.utcnow()))
    with kehu.db.reader() as s:
        got = quality.contradictions(s, info)
        assert got == _contradictions_tag_by_tag(s, info)  # the one-statement count = each rule over every customer
    assert got["amount_high"] == 1 and got["freq_high"] == 1 and sum(got.values()) == 2
    with kehu.db.transaction() as s:
        drawn = quality.sample(s, head, code="freq_high", size=5)
    assert len(drawn) == 2 and all(d["customer"] for d in drawn)
    with kehu.db.transaction() as s:
        for d in drawn:
            quality.record(s, head, review_id=d["id"], correct=False)
    with kehu.db.reader() as s:
        row = next(t for t in quality.dashboard(s, info)["tags"] if t["code"] == "freq_high")
    assert row["reviewed"] == 2 and row["errors"] == 2 and row["error_rate"] == 1.0
