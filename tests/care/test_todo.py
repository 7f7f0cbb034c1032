"""今日待办 on a fixed date: follow-ups due/overdue, return visits, birthdays, anniversaries, pool warnings."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select, update

from kehu.access import service as access
from kehu.audit.models import AuditEntry
from kehu.care import service as care
from kehu.customers.models import Customer
from tests.fixtures.world import create_customer, id_number

TODAY = date(2027, 3, 10)


def _followup(client, h, no, at, nxt=None):
    body = {"method": "phone", "followed_at": at, **({"next_followup_on": nxt} if nxt else {})}
    r = client.post(f"/api/v1/customers/{no}/followups", json=body, headers=h)
    assert r.status_code == 201, r.text


def _todo(client, h, **params):
    r = client.get("/api/v1/todo", params={"on": TODAY.isoformat(), **params}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _setup(kehu, world, client, api):
    alice, bob = world.ctx("alice"), world.ctx("bob")
    ha, hb = api("alice"), api("bob")
    no = {}
    for name in ("due", "over", "done", "superseded"):
        no[name] = create_customer(kehu, as_user=alice, id_number=None)
    _followup(client, ha, no["due"], "2027-03-01 10:00", "2027-03-10")
    _followup(client, ha, no["over"], "2027-02-20 10:00", "2027-03-05")
    _followup(client, ha, no["done"], "2027-02-01 10:00", "2027-02-10")
    r = client.post(f"/api/v1/customers/{no['done']}/communications", headers=ha,
                    json={"communicated_on": "2027-02-12", "channel": "phone", "key_points": "已回电"})
    assert r.status_code == 201, r.text
    _followup(client, ha, no["superseded"], "2027-02-20 10:00", "2027-03-01")
    _followup(client, ha, no["superseded"], "2027-03-02 10:00")
    no["bday"] = create_customer(kehu, as_user=alice, id_number=id_number(901, born=date(1985, 3, 12)))
    no["far"] = create_customer(kehu, as_user=alice, id_number=id_number(902, born=date(1985, 4, 30)))
    no["key"] = create_customer(kehu, as_user=alice, id_number=None, importance="key")
    r = client.post("/api/v1/customers", headers=ha, json={
        "kind": "organisation", "name": "杭州纪念日测试有限公司", "mobile": "13811112222",
        "street": "西湖1号", "consent": {"purposes": ["service"], "channel": "visit"},
        "anniversaries": [{"kind": "founding", "day": "2010-03-15", "note": "公司成立"}]})
    assert r.status_code == 201, r.text
    no["ann"] = r.json()["archive_no"]
    no["bob"] = create_customer(kehu, as_user=bob, id_number=id_number(903, born=date(1990, 3, 10)))
    _followup(client, hb, no["bob"], "2027-03-03 09:00", "2027-03-10")
    return no


def test_each_user_sees_only_their_customers(kehu, world, client, api):
    no = _setup(kehu, world, client, api)
    created = datetime(2027, 2, 1, 2, 0, tzinfo=timezone.utc)  # fixed, so the test does not age with the clock
    with kehu.db.transaction() as s:
        s.execute(update(Customer).where(Customer.archive_no == no["key"]).values(created_at=created))
    items = _todo(client, api("alice"))
    got = {(i["kind"], i["archive_no"]) for i in items}
    assert got == {("followup_due", no["due"]), ("followup_overdue", no["over"]), ("visit_due", no["key"]),
                   ("birthday", no["bday"]), ("anniversary", no["ann"]), ("pool_warning", no["done"])}
    by_kind = {i["kind"]: i for i in items}
    assert by_kind["followup_overdue"]["date"] == "2027-03-05" and by_kind["followup_overdue"]["days_overdue"] == 5
    assert by_kind["birthday"]["date"] == "2027-03-12" and by_kind["birthday"]["days_ahead"] == 2
    assert by_kind["anniversary"]["anniversary_kind"] == "founding" and by_kind["anniversary"]["note"] == "公司成立"
    assert by_kind["visit_due"]["date"] == (created.date() + timedelta(days=30)).isoformat()
    assert by_kind["pool_warning"]["days_left"] == 4  # last contact 2027-02-12, normal customers: 30 days
    assert by_kind["followup_due"]["customer_name"].startswith("张")
    assert [i["date"] for i in items] == sorted(i["date"] for i in items)
    assert {(i["kind"], i["archive_no"]) for i in _todo(client, api("bob"))} == {
        ("followup_due", no["bob"]), ("birthday", no["bob"])}
    head = {(i["kind"], i["archive_no"]) for i in _todo(client, api("head"))}  # 销售部: both teams
    assert (got | {("followup_due", no["bob"]), ("birthday", no["bob"])}) - {("pool_warning", no["done"])} <= head
    assert ("pool_warning", no["done"]) not in head  # warnings go to the owner only
    assert {i["archive_no"] for i in _todo(client, api("alice"), days=1)} >= {no["due"]}
    assert "birthday" not in {i["kind"] for i in _todo(client, api("alice"), days=1)}
    with kehu.db.reader() as s:
        audit = s.execute(select(AuditEntry.fields, AuditEntry.detail).where(AuditEntry.action == "todo.list")
                          .order_by(AuditEntry.seq)).first()
    assert "customer.birth_date" in audit.fields and no["bday"] in audit.detail
    assert client.get("/api/v1/todo", headers=api("admin")).json()["items"] == []


def test_birthdays_hidden_from_a_role_that_cannot_see_the_birth_date(kehu, world, client, api):
    no = _setup(kehu, world, client, api)
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code="viewer", name="只读", scope="all")
        s.flush()
        access.set_grants(s, admin, role_code="viewer", grants=[("view", 2), ("view", 3)])
        access.create_user(s, None, username="vera", display_name="Vera", password=world.password,
                           role_code="viewer", department_id=world.departments["hq"])
    items = _todo(client, api("vera"))
    kinds = {(i["kind"], i["archive_no"]) for i in items}
    assert ("anniversary", no["ann"]) in kinds and ("followup_due", no["bob"]) in kinds
    assert not [i for i in items if i["kind"] == "birthday"]  # birth dates are masked for this role
    assert all("*" in i["customer_name"] for i in items if i["archive_no"] == no["due"])  # names masked


def test_next_occurrence_handles_leap_days():
    assert care.next_occurrence(date(2000, 2, 29), date(2027, 2, 1)) == date(2027, 2, 28)
    assert care.next_occurrence(date(1990, 1, 5), date(2027, 3, 10)) == date(2028, 1, 5)
    assert care.next_occurrence(date(1990, 3, 10), date(2027, 3, 10)) == date(2027, 3, 10)
