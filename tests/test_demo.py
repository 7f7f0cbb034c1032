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
    assert {users[o] for o, _d, _r in owners} <= staff
    for owner, dept, region in owners:  # each customer goes to the group serving its region
        group = next(g for g, regions in demo.GROUP_REGIONS.items() if region in regions)
        assert depts[dept] == demo.DEMO_DEPARTMENTS[group][0]
    assert demo.load_demo(kehu, n=5) is None  # only into an empty store…
    again = demo.load_demo(kehu, n=5, seed=99, force=True)  # …unless forced: users reused, passwords left alone
    assert again.created == 5 and all(l.password is None for l in again.logins)
