"""Tag quality: coverage, contradictions flagged, sampled review giving an error rate."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from kehu.tags import engine, quality
from kehu.tags.models import CustomerTag, Tag
from kehu.tags.service import today
from tests.fixtures.world import create_customer
from tests.tags.conftest import add_order, customer_id


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
    with kehu.db.transaction() as s:
        drawn = quality.sample(s, head, code="freq_high", size=5)
    assert len(drawn) == 2 and all(d["customer"] for d in drawn)
    with kehu.db.transaction() as s:
        for d in drawn:
            quality.record(s, head, review_id=d["id"], correct=False)
    with kehu.db.reader() as s:
        row = next(t for t in quality.dashboard(s, info)["tags"] if t["code"] == "freq_high")
    assert row["reviewed"] == 2 and row["errors"] == 2 and row["error_rate"] == 1.0
