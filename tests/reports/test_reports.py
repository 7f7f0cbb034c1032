"""Each report against the independent model, for viewers with different scopes, on both engines."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kehu.complaints.models import HANDLINGS, KINDS
from kehu.errors import Forbidden
from kehu.reports import service
from kehu.reports.period import parse
from tests.reports import model

VIEWERS = ("info", "head", "alice")  # all customers / department subtree / own customers
PERIODS = ("2026-Q1", "2025", "2025-11")
AS_OF = date(2026, 1, 15)


def _period(label: str):
    p, err = parse(label, today=AS_OF)
    assert err is None
    return p


def _run(kehu, world, user: str, name: str, label: str, **kw) -> dict:
    ctx = world.ctx(user)
    with kehu.db.reader() as s:
        if name == "sales":
            return service.sales(s, ctx, period=_period(label), as_of=kw.get("as_of", AS_OF))
        return getattr(service, name)(s, ctx, period=_period(label))


def _money(value) -> Decimal:
    return Decimal(value or 0)


@pytest.mark.parametrize("label", PERIODS)
def test_growth_matches_the_model_for_each_scope(kehu, world, data, label):
    p = _period(label)
    seen = set()
    for user in VIEWERS:
        body = _run(kehu, world, user, "growth", label)
        principal = world.ctx(user).principal
        this = model.growth(principal, data, *p.months)
        last = model.growth(principal, data, *p.previous().months)
        for row in body["tables"][0]["rows"]:
            seg = row["segment"]
            assert (row["original"], row["new"], row["removed"], row["current"]) == this[seg], (user, seg)
            assert (row["original_last"], row["new_last"], row["removed_last"], row["current_last"]) == last[seg]
            assert row["current"] == row["original"] + row["new"] - row["removed"]
        seen.add(this["all"])
    assert len(seen) == len(VIEWERS)  # the scopes really differ


@pytest.mark.parametrize("label", PERIODS)
def test_region_matches_the_model_for_each_scope(kehu, world, data, label):
    p = _period(label)
    for user in VIEWERS:
        body = _run(kehu, world, user, "region", label)
        expected = model.region(world.ctx(user).principal, data, *p.months)
        got = {r["province"]: (r["customers"], r["orders"], _money(r["sales"])) for r in body["tables"][0]["rows"]}
        assert got == expected, user
        total = sum(v[0] for v in expected.values())
        assert body["totals"]["customers"] == total
        if total:
            assert abs(sum(r["customer_share_pct"] for r in body["tables"][0]["rows"]) - 100) < 0.1


@pytest.mark.parametrize("label", PERIODS)
def test_complaints_match_the_model_for_each_scope(kehu, world, data, label):
    p = _period(label)
    kinds, handlings = dict(KINDS), dict(HANDLINGS)
    for user in VIEWERS:
        body = _run(kehu, world, user, "complaints", label)
        principal = world.ctx(user).principal
        tables = {t["key"]: t["rows"] for t in body["tables"]}
        for key, table, label_of in (
                ("kind", "kinds", lambda k: kinds[k]),
                ("handling", "handlings", lambda h: handlings[h] if h else "（未处理）"),
                ("responsible_department_id", "departments", lambda d: d)):
            expected = model.complaints(principal, data, *p.months, key)
            got = {r["name"]: (r["complaints"], r["closed"], _money(r["loss"])) for r in tables[table]
                   if r["complaints"]}
            if key == "responsible_department_id":
                expected = {(_dept_name(kehu, d) if d else "（未指定）"): v for d, v in expected.items()}
            else:
                expected = {label_of(k): v for k, v in expected.items()}
            assert got == expected, (user, key)
        last = model.complaints(principal, data, *p.previous().months, "kind")
        assert body["totals"]["complaints_last"] == sum(v[0] for v in last.values())


def _dept_name(kehu, dept_id: str) -> str:
    from kehu.access.models import Department

    with kehu.db.reader() as s:
        return s.get(Department, dept_id).name


@pytest.mark.parametrize("label", PERIODS)
def test_sales_and_receivables_match_the_model_for_each_scope(kehu, world, data, label):
    p = _period(label)
    for user in VIEWERS:
        body = _run(kehu, world, user, "sales", label)
        principal = world.ctx(user).principal
        this = model.sales_by_owner(principal, data, *p.months, AS_OF)
        last = model.sales_by_owner(principal, data, *p.previous().months, AS_OF)
        rows = {r["id"]: r for r in body["tables"][0]["rows"]}
        owners = {k or "" for k in this} | {k or "" for k in last if last[k]["sales"]}
        assert set(rows) <= owners | set(rows)
        for owner in owners | set(rows):
            e = this.get(owner or None, {})
            r = rows.get(owner)
            assert r is not None or not any(e.values()), (user, owner)
            if r is None:
                continue
            assert _money(r["sales"]) == e.get("sales", 0), (user, owner)
            assert r["orders"] == e.get("orders", 0)
            assert _money(r["planned"]) == e.get("planned", 0)
            assert _money(r["received"]) == e.get("received", 0)
            assert _money(r["overdue"]) == e.get("overdue", 0), (user, owner)
            assert r["overdue_orders"] == e.get("overdue_orders", 0)
            assert _money(r["sales_last"]) == last.get(owner or None, {}).get("sales", 0)
        dept_total = sum(_money(r["sales"]) for r in body["tables"][1]["rows"])
        assert dept_total == sum((v["sales"] for v in this.values()), Decimal(0))


def test_overdue_as_of_a_past_day_counts_payments_up_to_that_day_only(kehu, world, data):
    day = date(2025, 9, 1)
    body = _run(kehu, world, "info", "sales", "2025", as_of=day)
    expected = model.sales_by_owner(world.ctx("info").principal, data, "2025-01", "2026-01", day)
    got = {r["id"]: _money(r["overdue"]) for r in body["tables"][0]["rows"] if _money(r["overdue"])}
    assert got == {(k or ""): v["overdue"] for k, v in expected.items() if v["overdue"]}
    assert got  # the day is chosen so that something is overdue


def test_a_staff_member_sees_only_their_own_customers_figures(kehu, world, data):
    body = _run(kehu, world, "alice", "sales", "2025")
    assert {r["id"] for r in body["tables"][0]["rows"]} <= {world.users["alice"]}
    head = _run(kehu, world, "head", "sales", "2025")
    carol = world.users["carol"]  # 客服部: outside the sales department head's subtree
    assert carol not in {r["id"] for r in head["tables"][0]["rows"]}
    info = _run(kehu, world, "info", "sales", "2025")
    assert carol in {r["id"] for r in info["tables"][0]["rows"]}


def test_amounts_are_withheld_from_a_viewer_without_level_2(kehu, world, data):
    body = _run(kehu, world, "pub", "sales", "2025")
    assert set(body["withheld"]) == {"order.total_amount", "payment_plan.amount", "payment.amount"}
    assert all(r["sales"] is None and r["overdue"] is None for r in body["tables"][0]["rows"])
    assert any(r["orders"] for r in body["tables"][0]["rows"])
    region = _run(kehu, world, "pub", "region", "2025")
    assert all(r["sales"] is None for r in region["tables"][0]["rows"])
    comp = _run(kehu, world, "pub", "complaints", "2025")
    assert "complaint.loss_amount" in comp["withheld"] and "handlings" not in {t["key"] for t in comp["tables"]}


def test_a_viewer_without_view_rights_gets_nothing(kehu, world, data):
    for user in ("noview", "admin", "auditor"):
        for name in service.REPORTS:
            with pytest.raises(Forbidden):
                _run(kehu, world, user, name, "2025")


def test_each_report_view_is_audited_with_field_keys(kehu, world, data, client, api):
    from sqlalchemy import select

    from kehu.audit.models import AuditEntry

    for name in service.REPORTS:
        r = client.get(f"/api/v1/reports/{name}", params={"period": "2025"}, headers=api("head"))
        assert r.status_code == 200, r.text
    with kehu.db.reader() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.fields, AuditEntry.detail)
                         .where(AuditEntry.action.like("report.%"))).all()
    assert {r.action for r in rows} == {f"report.{n}" for n in service.REPORTS}
    sales = next(r for r in rows if r.action == "report.sales")
    assert "order.total_amount" in sales.fields and "2025" in sales.detail
