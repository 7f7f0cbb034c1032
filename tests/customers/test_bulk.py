"""Bulk creation: the same stored result as service.create, per-row error report, duplicates, one audit entry."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from kehu.audit.models import AuditEntry
from kehu.catalog.registry import declared
from kehu.catalog.vault import Vault
from kehu.customers import bulk, service
from kehu.customers.models import Contact, Customer, History
from kehu.errors import Forbidden
from tests.fixtures.world import customer_row as customer_data, id_number, with_consent

SKIP = {"id", "customer_id", "archive_no", "created_at", "updated_at", "dek"}


def full_individual() -> dict:
    """An individual using every kind of child record and encrypted, blind-indexed and derived fields."""
    row = customer_data(gender="F", importance="key", landline="021-62345678", postcode="200030",
                        company="上海华信科技有限公司", industry="信息技术", region="华东", source_channel="visit",
                        allergies="花生过敏", dining_habits="清淡", notes="老客户", annual_income="年收入50-100万",
                        street="  徐汇区漕溪北路１２号 ")  # full-width digits and spaces get normalised
    row.pop("birth_date", None)  # derived from the ID number, as service.create does
    row["contacts"] = [{"name": "王助理", "title": "助理", "mobile": "13700001111", "is_primary": "yes"}]
    row["addresses"] = [{"label": "收货地址", "province": "上海市", "city": "上海市", "street": "漕溪北路12号"}]
    row["anniversaries"] = [{"kind": "wedding", "day": "2015-05-20", "note": "结婚十周年"}]
    row["relations"] = [{"kind": "driver", "name": "李师傅", "mobile": "13700002222"}]
    return row


def credit_code(body17: str) -> str:
    from stdnum.cn import uscc

    return body17 + uscc.calc_check_digit(body17)


def organisation() -> dict:
    row = customer_data(kind="organisation", uscc=credit_code("91110108MA01ABCD0"), registered_capital="1000",
                        headcount="120", operating_status="存续", email="info@huaxin.com.cn", importance="core")
    row["contacts"] = [{"name": "赵经理", "title": "采购经理", "mobile": "13600003333", "email": "zhao@huaxin.com.cn",
                        "is_primary": "yes"},
                       {"name": "钱总", "title": "总经理", "landline": "010-82345678"}]
    return row


def stored(session, kehu, archive_no: str) -> dict:
    """Everything stored for an archive, ciphertexts opened, ids/times/keys left out."""
    customer = session.execute(select(Customer).where(Customer.archive_no == archive_no)).scalar_one()
    vault = Vault(kehu.crypto, customer_id=customer.id, wrapped_dek=customer.dek)

    def dump(record) -> dict:
        out = {}
        for col in record.__table__.columns:
            if col.key in SKIP:
                continue
            value = getattr(record, col.key)
            if "kehu_field" in col.info and col.info["kehu_field"]["encrypted"] and value is not None:
                value = vault.open(value, table=record.__tablename__, field=col.key, row_id=record.id)
            out[col.key] = value
        return out

    body = {"customer": dump(customer)}
    for entity, (_model, attr) in service.CHILDREN.items():
        body[attr] = sorted((dump(r) for r in getattr(customer, attr)), key=repr)
    history = []
    for h in session.execute(select(History).where(History.customer_id == customer.id).order_by(History.seq)).scalars():
        spec = declared().get(f"{h.entity}.{h.field}")  # None for the archive's creation row
        item = {"entity": h.entity, "field": h.field, "op": h.op, "changed_by": h.changed_by, "reason": h.reason,
                "self": h.record_id == customer.id}
        for which in ("old", "new"):
            blob = getattr(h, f"{which}_value")
            if blob is not None and spec is not None and spec.encrypted:
                blob = vault.open(blob, table="customer_history", field=f"{which}:{spec.key}", row_id=h.id).encode()
            item[which] = blob
        history.append(item)
    body["history"] = history
    return body


def shown(session, ctx, archive_no: str) -> dict:
    body = service.get(session, ctx, archive_no=archive_no)
    for key in ("archive_no", "created_at", "updated_at"):
        body.pop(key)
    for attr in ("contacts", "addresses", "anniversaries", "relations"):
        body[attr] = sorted(({k: v for k, v in r.items() if k != "id"} for r in body[attr]), key=repr)
    return body


@pytest.mark.parametrize("make", [full_individual, organisation])
def test_bulk_stores_exactly_what_service_create_stores(kehu, world, make):
    ctx = world.ctx("info")
    row = make()
    data, children = bulk.split(row)
    # service.create first, read back, then roll back so the same identifiers can be created again
    session = kehu.db.sessions()
    try:
        created = service.create(session, ctx, data=with_consent(data), children=children, reason="录入")
        session.flush()
        by_service = stored(session, kehu, created.archive_no), shown(session, ctx, created.archive_no)
    finally:
        session.rollback()
        session.close()
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, [row], reason="录入")
    assert result.errors == [] and result.created == 1
    with kehu.db.transaction() as s:
        by_bulk = stored(s, kehu, result.archive_nos[0]), shown(s, ctx, result.archive_nos[0])
    assert by_bulk[0] == by_service[0]
    assert by_bulk[1] == by_service[1]
    assert by_bulk[0]["history"] and all(h["op"] == "create" for h in by_bulk[0]["history"])


def test_bulk_and_service_agree_for_a_staff_member(kehu, world):
    ctx = world.ctx("alice")
    row = customer_data()
    data, children = bulk.split(row)
    session = kehu.db.sessions()
    try:
        no = service.create(session, ctx, data=with_consent(data), children=children).archive_no
        session.flush()
        expected = stored(session, kehu, no)
    finally:
        session.rollback()
        session.close()
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, [row])
    with kehu.db.reader() as s:
        got = stored(s, kehu, result.archive_nos[0])
    assert got == expected
    assert got["customer"]["owner_id"] == world.users["alice"]
    assert got["customer"]["department_id"] == world.departments["east"]


def test_invalid_rows_are_reported_and_nothing_of_them_is_written(kehu, world):
    ctx = world.ctx("info")
    good1, good2 = customer_data(), customer_data(kind="organisation")
    good2["contacts"] = [{"name": "联系人甲", "mobile": "13512340000"}]
    rows = [
        good1,
        customer_data(mobile="12345", email="not-an-email"),
        customer_data(street=None),
        {**customer_data(kind="organisation"), "contacts": [{"title": "经理", "mobile": "13512349999"}]},
        customer_data(shoe_size="42"),
        customer_data(importance="key", occupation=None, email=None),
        good2,
        "not a row",
    ]
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, rows, reason="导入")
    assert result.created == 2 and sorted(result.archive_nos) == [0, 6]
    got = {(e.row, e.field, e.code) for e in result.errors}
    assert got == {
        (1, "mobile", "mobile_invalid"), (1, "email", "email_invalid"),
        (2, "street", "required"),
        (3, "contacts[0].name", "required"),
        (4, "shoe_size", "unknown_field"),
        (5, "occupation", "required_for_key"), (5, "email", "required_for_key"),
        (7, "row", "invalid_type"),
    }
    assert result.rejected == 6
    assert all(e.message for e in result.errors)
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 2
        assert s.scalar(select(func.count()).select_from(Contact)) == 1  # not the rejected row's contact
        ids = set(s.scalars(select(Customer.id)))
        assert set(s.scalars(select(History.customer_id))) == ids
        nos = sorted(s.scalars(select(Customer.archive_no)))
        assert int(nos[1][-7:]) == int(nos[0][-7:]) + 1
        audits = s.execute(select(AuditEntry.detail, AuditEntry.fields, AuditEntry.reason, AuditEntry.actor_id)
                           .where(AuditEntry.action == "customer.bulk_create")).all()
    assert len(audits) == 1
    entry = audits[0]
    assert '"count": 2' in entry.detail and nos[0] in entry.detail and nos[1] in entry.detail
    assert entry.reason == "导入" and entry.actor_id == world.users["info"]
    text = repr([entry.fields, entry.detail])
    assert good1["mobile"] not in text and good1["name"] not in text and "customer.mobile" in entry.fields


def test_duplicates_within_the_batch_are_rejected(kehu, world):
    ctx = world.ctx("info")
    first = customer_data(kind="organisation")
    first["contacts"] = [{"name": "联系人", "mobile": "13811112222", "email": "buyer@example.cn"}]
    rows = [
        first,
        customer_data(mobile=first["mobile"]),  # same mobile as row 0
        customer_data(mobile="138 1111 2222"),  # row 0's contact, written differently
        customer_data(email="BUYER@example.cn".lower()),  # row 0's contact e-mail
        customer_data(kind="organisation", uscc=None),
    ]
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, rows, batch_size=2)  # duplicates across internal batches too
    assert {(e.row, e.field, e.code) for e in result.errors} == {
        (1, "mobile", "duplicate_in_batch"), (2, "mobile", "duplicate_in_batch"), (3, "email", "duplicate_in_batch")}
    assert "第1条" in result.errors[0].message
    assert sorted(result.archive_nos) == [0, 4]


def test_duplicates_of_existing_archives_are_rejected(kehu, world):
    info, bob = world.ctx("info"), world.ctx("bob")
    existing = customer_data()
    company = customer_data(kind="organisation", uscc=credit_code("91310000MA1FL0001"))
    with kehu.db.transaction() as s:
        no = service.create(s, world.ctx("alice"), data=with_consent(existing), reason="测试").archive_no
        service.create(s, info, data=with_consent(company), reason="测试")
    rows = [customer_data(id_number=existing["id_number"]), customer_data(email=existing["email"].upper()),
            customer_data(kind="organisation", uscc=company["uscc"].lower()), customer_data()]
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, info, rows)
    errors = {(e.row, e.field, e.code): e.message for e in result.errors}
    assert set(errors) == {(0, "id_number", "duplicate"), (1, "email", "duplicate"), (2, "uscc", "duplicate")}
    assert no in errors[(0, "id_number", "duplicate")]  # visible to the information manager
    assert result.created == 1 and list(result.archive_nos) == [3]
    with kehu.db.transaction() as s:  # bob may not learn the archive number of alice's customer
        result = bulk.create_many(s, bob, [customer_data(mobile=existing["mobile"])])
    assert [(e.field, e.code) for e in result.errors] == [("mobile", "duplicate")]
    assert no not in result.errors[0].message and result.created == 0


def test_rights_and_scope_are_checked_per_row(kehu, world):
    with pytest.raises(Forbidden):
        with kehu.db.transaction() as s:
            bulk.create_many(s, world.ctx("auditor"), [customer_data()])
    ctx = world.ctx("alice")
    rows = [customer_data(), customer_data(owner_id=world.users["bob"]), customer_data(owner_id="nobody")]
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, rows)
    assert {(e.row, e.field, e.code) for e in result.errors} == {
        (1, None, "owner_out_of_scope"), (2, "owner_id", "owner_not_found")}
    assert result.created == 1


def test_importance_classes_outside_the_role_are_out_of_scope(kehu, world):
    info = world.ctx("info")
    key = customer_data(importance="key")
    with kehu.db.transaction() as s:
        no = service.create(s, info, data=with_consent(key), reason="测试").archive_no
    ctx = world.ctx("info")
    ctx.principal = replace(ctx.principal, importance=frozenset({"normal", "core"}))
    rows = [customer_data(importance="key"), customer_data(importance="core"), customer_data(mobile=key["mobile"])]
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, rows)
    assert {(e.row, e.field, e.code) for e in result.errors} == {(0, None, "owner_out_of_scope"),
                                                                 (2, "mobile", "duplicate")}
    assert no not in result.errors[-1].message  # a key customer this role may not see stays anonymous
    assert list(result.archive_nos) == [1]


def test_archive_numbers_continue_the_single_create_sequence(kehu, world):
    from tests.fixtures.world import create_customer

    ctx = world.ctx("info")
    first = create_customer(kehu, as_user=ctx)
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, [customer_data() for _ in range(3)], batch_size=2)
    last = create_customer(kehu, as_user=ctx)
    numbers = [int(no[-7:]) for no in (first, *(result.archive_nos[i] for i in range(3)), last)]
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    assert (result.first_no, result.last_no) == (result.archive_nos[0], result.archive_nos[2])


def test_a_dry_run_reports_the_same_and_writes_nothing(kehu, world):
    ctx = world.ctx("info")
    rows = [customer_data(), customer_data(mobile="12345"), customer_data()]
    rows[2]["email"] = rows[0]["email"]
    with kehu.db.transaction() as s:
        dry = bulk.create_many(s, ctx, rows, dry_run=True)
    with kehu.db.transaction() as s:
        real = bulk.create_many(s, ctx, rows)
    assert [(e.row, e.field, e.code) for e in dry.errors] == [(e.row, e.field, e.code) for e in real.errors] == [
        (1, "mobile", "mobile_invalid"), (2, "email", "duplicate_in_batch")]
    assert dry.created == real.created == 1
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "customer.bulk_create")) == 1


def test_bulk_applies_the_consent_rules_of_service_create_minors_included(kehu, world):
    from datetime import date, timedelta

    from kehu.consent import basis
    from kehu.consent.models import ConsentRecord
    from tests.fixtures.world import consent_data

    ctx = world.ctx("info")
    child = date.today() - timedelta(days=365 * 9)
    rows = [customer_data(),  # adult: the batch consent
            customer_data(id_number=id_number(9101, born=child)),  # a minor by the ID number, no guardian
            customer_data(id_number=None, birth_date=child.isoformat()),  # a minor by the birth date, no guardian
            {**customer_data(id_number=None, birth_date=child.isoformat()), "consent": consent_data(minor=True)},
            customer_data(bank_account="6222020200112233445")]
    no_sensitive = {"purposes": ["service", "marketing"], "channel": "event", "sensitive": False}
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, rows, reason="导入", consent={**no_sensitive, "sensitive": True})
        dry = bulk.create_many(s, ctx, [customer_data(bank_account="6222020200112233445")], dry_run=True,
                               consent=no_sensitive)
    assert {(e.row, e.field, e.code) for e in result.errors} == {
        (1, "consent.guardian_name", "guardian_consent_required"),
        (2, "consent.guardian_name", "guardian_consent_required")}
    assert {(e.field, e.code) for e in dry.errors} == {("id_number", "sensitive_consent_required"),
                                                       ("bank_account", "sensitive_consent_required")}
    assert result.created == 3
    with kehu.db.reader() as s:
        ids = {i: s.execute(select(Customer.id).where(Customer.archive_no == no)).scalar_one()
               for i, no in result.archive_nos.items()}
        records = {r.customer_id: r for r in s.execute(select(ConsentRecord)).scalars()}
        assert set(records) == set(ids.values())  # one record per archive written, none for a refused row
        adult, minor = records[ids[0]], records[ids[3]]
        assert (adult.purposes, adult.channel, adult.sensitive, adult.source) == (
            "service,marketing", "event", "yes", "bulk")
        assert (minor.purposes, minor.guardian_relation, minor.source) == ("service", "father", "bulk")
        assert minor.guardian_name is not None and b"\xe5\xbc\xa0" not in minor.guardian_name  # sealed
        assert basis.guardian_recorded(s, ids[3]) and not basis.guardian_recorded(s, ids[0])
        assert basis.allowed(s, ids.values(), "marketing") == {ids[0], ids[4]}
