"""The demo generator: valid, realistic, unique and deterministic rows; the demo loader."""
from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import func, select
from stdnum.cn import ric, uscc

from kehu import demo
from kehu.catalog.registry import build_catalog
from kehu.catalog.validation import clean
from kehu.customers import bulk, rules
from kehu.customers.models import Customer
from kehu.kit import validate as v

N = 400


def test_every_row_passes_catalogue_validation_and_archive_rules():
    catalog = build_catalog({})
    for row in demo.generate(N):
        data, children = bulk.split(row)
        values = clean(catalog, "customer", data, required=("kind", "name"))
        for entity, items in children.items():
            required = tuple(s.name for s in catalog.of(entity) if s.required)
            for item in items:
                clean(catalog, entity, item, required=required)
        values.setdefault("importance", "normal")
        assert rules.check(values, {k: x is not None for k, x in values.items()}) == [], row


def test_same_seed_same_rows_other_seed_other_rows():
    first = list(demo.generate(60, seed=7))
    assert first == list(demo.generate(60, seed=7))
    assert first[:20] == list(demo.generate(20, seed=7))  # a prefix does not depend on n
    assert first != list(demo.generate(60, seed=8))


def test_rows_are_a_realistic_mix():
    rows = list(demo.generate(2000))
    kinds = Counter(r["kind"] for r in rows)
    assert 0.75 < kinds["individual"] / len(rows) < 0.85
    assert {r["importance"] for r in rows} == {"normal", "core", "key"}
    assert len({r["region"] for r in rows}) >= 6 and len({r["source_channel"] for r in rows}) >= 8
    for r in rows:
        if r["kind"] == "organisation":
            assert 1 <= len(r["contacts"]) <= 3 and r["contacts"][0]["is_primary"] == "yes"
            assert "gender" not in r and "id_number" not in r
            if "uscc" in r:
                assert uscc.is_valid(r["uscc"])
        else:
            assert "contacts" not in r and r["gender"] in ("M", "F", "U")
            if "id_number" in r:  # birth date and gender are the ones inside the 身份证号
                assert ric.is_valid(r["id_number"])
                assert ric.get_birth_date(r["id_number"]) == date.fromisoformat(r["birth_date"])
                if r["gender"] != "U":
                    assert int(r["id_number"][16]) % 2 == (1 if r["gender"] == "M" else 0)
        assert r.get("mobile") or r.get("landline")
        if r.get("mobile"):
            assert v.mobile(r["mobile"]) == r["mobile"]
    assert any(r.get("anniversaries") for r in rows) and any(r.get("relations") for r in rows)
    assert any(r.get("allergies") for r in rows) and any(r.get("addresses") for r in rows)


def test_identifiers_are_unique_across_the_data_set():
    rows = list(demo.generate(3000))
    for name in ("mobile", "email", "id_number", "uscc"):
        values = [r[name] for r in rows if r.get(name)]
        contacts = [c[name] for r in rows for c in r.get("contacts", ()) if c.get(name)]
        assert len(set(values + contacts)) == len(values + contacts), name


def test_load_demo_creates_the_logins_and_loads_every_row(kehu):
    seen = []
    result = demo.load_demo(kehu, n=80, batch=30, observe=lambda i, row: seen.append(i))
    assert (result.created, result.rejected, result.errors) == (80, 0, [])
    assert seen == list(range(80))
    assert [(l.username, l.role, l.password) for l in result.logins] == [
        (u.username, u.role, demo.DEMO_PASSWORD) for u in demo.DEMO_USERS]
    assert {u.role for u in demo.DEMO_USERS} >= {"admin", "auditor", "info_manager", "dept_head", "staff"}
    staff = {l.username for l in result.logins if l.role == "staff"}
    with kehu.db.reader() as s:
        from kehu.access.models import Department, User

        users = dict(s.execute(select(User.id, User.username)).all())
        depts = dict(s.execute(select(Department.id, Department.name)).all())
        owners = s.execute(select(Customer.owner_id, Customer.department_id, Customer.region)).all()
        assert s.scalar(select(func.count()).select_from(Customer)) == 80
    assert {users[o] for o, _d, _r in owners if o} <= staff  # the pooled ones have no owner
    for owner, dept, region in owners:  # each customer goes to the group serving its region
        group = next(g for g, regions in demo.GROUP_REGIONS.items() if region in regions)
        assert depts[dept] == demo.DEMO_DEPARTMENTS[group][0]
    assert demo.load_demo(kehu, n=5) is None  # only into an empty store…
    again = demo.load_demo(kehu, n=5, seed=99, force=True)  # …unless forced: users reused, passwords left alone
    assert again.created == 5 and all(l.password is None for l in again.logins)


def test_demo_relationship_data_exists_and_is_consistent(kehu):
    from decimal import Decimal

    from kehu.care import service as care
    from kehu.catalog.vault import Vault
    from kehu.complaints.models import STATUSES, Complaint
    from kehu.customers.models import History
    from kehu.demo_flow import local_today
    from kehu.interactions.models import Communication, FollowUp
    from kehu.leads.models import Lead, LeadChange
    from kehu.orders import payments
    from kehu.orders.models import Order, OrderItem, Payment, PaymentPlan, Product, ProductLine
    from kehu.pools.models import PoolEntry
    from kehu.surveys.models import Survey, SurveyAnswer
    from tests.fixtures.world import World

    result = demo.load_demo(kehu, n=160, seed=11)
    assert result.created == 160 and result.relationships["order"] > 0
    today = local_today()
    with kehu.db.reader() as s:
        count = lambda model: s.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(ProductLine) >= 3 and count(Product) >= 9
        assert count(FollowUp) > 100 and count(Communication) > 20 and count(Lead) > 10
        orders = s.execute(select(Order)).scalars().all()
        items = Counter()
        for item in s.execute(select(OrderItem)).scalars():
            items[item.order_id] += item.amount
            assert item.amount == (item.quantity * item.unit_price).quantize(Decimal("0.01"))
        planned, paid = Counter(), Counter()
        for plan in s.execute(select(PaymentPlan)).scalars():
            planned[plan.order_id] += plan.amount
        pays = s.execute(select(Payment)).scalars().all()
        for pay in pays:
            paid[pay.order_id] += pay.amount
            assert pay.paid_on <= today
        assert {o.status for o in orders} >= {"draft", "signed", "executing", "completed"}
        by_order = {o.id: o.customer_id for o in orders}
        assert all(item.customer_id == by_order[item.order_id]
                   for item in s.execute(select(OrderItem)).scalars())  # a line carries its order's customer
        for o in orders:
            assert o.total_amount == items[o.id] > 0 and paid[o.id] <= planned[o.id]
            assert planned[o.id] in (0, o.total_amount)
            assert (o.status in ("draft", "cancelled")) == (planned[o.id] == 0)
            assert o.order_no.startswith("HT") and len(o.order_no) == 13
        assert len({o.order_no for o in orders}) == len(orders)
        sealed = [p for p in pays if p.account]
        assert sealed and all(not p.account.isdigit() for p in sealed if isinstance(p.account, str))
        customer = s.execute(select(Customer).join(Order, Order.customer_id == Customer.id)
                             .where(Order.id == sealed[0].order_id)).scalar_one()
        account = Vault(kehu.crypto, customer_id=customer.id, wrapped_dek=customer.dek).read(
            sealed[0], kehu.catalog(s).get("payment", "account"))
        assert len(account) == 19 and account.isdigit() and account.encode() not in bytes(sealed[0].account)
        complaints = s.execute(select(Complaint)).scalars().all()
        assert {c.status for c in complaints} == {k for k, _l in STATUSES}
        assert any(c.status != "closed" and c.promised_on < today for c in complaints)  # overdue ones
        for c in complaints:
            assert (c.cause is not None) == (c.status != "registered")
            assert (c.handled_on is not None) == (c.status in ("handled", "evaluated", "closed"))
            assert (c.closed_on is not None) == (c.status == "closed")
            assert c.promised_on >= c.received_on
        steps = s.execute(select(History.record_id, func.count()).where(History.entity == "complaint")
                          .group_by(History.record_id)).all()
        by_id = {c.id: c for c in complaints}
        assert all(n == ["registered", "investigated", "planned", "handled", "evaluated", "closed"].index(
            by_id[rid].status) for rid, n in steps)
        surveys = s.execute(select(Survey)).scalars().all()
        answers = Counter(a.survey_id for a in s.execute(select(SurveyAnswer)).scalars())
        assert {sv.trigger for sv in surveys} >= {"complaint", "schedule"}
        for sv in surveys:
            assert (sv.status == "answered") == (answers[sv.id] == 6) == (sv.overall_score is not None)
        for lead in s.execute(select(Lead)).scalars():
            last = s.execute(select(LeadChange.to_stage).where(LeadChange.lead_id == lead.id)
                             .order_by(LeadChange.changed_at.desc(), LeadChange.id.desc()).limit(1)).scalar()
            assert last == lead.stage
        pooled = s.execute(select(Customer.owner_id, PoolEntry.previous_owner_id)
                           .join(PoolEntry, PoolEntry.customer_id == Customer.id)).all()
        assert pooled and all(owner is None and previous for owner, previous in pooled)
    world = World(kehu, users={u.username: uid for u, uid in zip(demo.DEMO_USERS, _user_ids(kehu))})
    for user in (u.username for u in demo.DEMO_USERS if u.role == "staff"):
        ctx = world.ctx(user)
        with kehu.db.reader() as s:
            kinds = {i["kind"] for i in care.todo(s, ctx, today=today)["items"]}
        assert {"followup_due", "followup_overdue", "pool_warning"} <= kinds, (user, kinds)
    with kehu.db.reader() as s:
        found = payments.overdue(s, world.ctx("info"), today=today)
    assert found["orders"], "some receivables are overdue"


def _user_ids(kehu) -> list[str]:
    from kehu.access.models import User

    with kehu.db.reader() as s:
        ids = dict(s.execute(select(User.username, User.id)).all())
    return [ids[u.username] for u in demo.DEMO_USERS]
