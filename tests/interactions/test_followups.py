"""Follow-ups (跟进记录), communications (沟通纪要) and the customer timeline: scope, levels, audit, paging."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kehu.access import service as access
from kehu.audit.models import AuditEntry
from kehu.interactions.models import FollowUp
from tests.fixtures.world import create_customer

FOLLOWUP = {"method": "phone", "followed_at": "2026-03-02 10:30", "result": "客户同意下周报价",
            "notes": "对价格敏感", "next_followup_on": "2026-03-09"}


def _audit(kehu, action: str) -> list:
    """Audit entries of an action, oldest first (outcome, customer_no, fields, detail)."""
    cols = (AuditEntry.outcome, AuditEntry.customer_no, AuditEntry.fields, AuditEntry.detail, AuditEntry.reason)
    with kehu.db.reader() as s:
        return list(s.execute(select(*cols).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def test_create_and_list_followups(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    r = client.post(f"/api/v1/customers/{no}/followups", json=FOLLOWUP, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["method"] == "phone" and body["followed_at"] == "2026-03-02 10:30"
    assert body["result"] == "客户同意下周报价" and body["next_followup_on"] == "2026-03-09"
    assert body["created_by"] == "Alice"
    client.post(f"/api/v1/customers/{no}/followups", json={**FOLLOWUP, "followed_at": "2026-03-05T09:00:00",
                                                           "method": "微信"}, headers=h)
    items = client.get(f"/api/v1/customers/{no}/followups", headers=h).json()["items"]
    assert [(i["followed_at"], i["method"]) for i in items] == [("2026-03-05 09:00", "wechat"),
                                                                 ("2026-03-02 10:30", "phone")]
    created = _audit(kehu, "followup.create")
    assert created and "followup.notes" in created[0].fields and "对价格敏感" not in (created[0].detail or "")
    listed = _audit(kehu, "followup.list")
    assert listed and listed[0].customer_no == no and "followup.result" in listed[0].fields


def test_followup_with_contact_person(kehu, world, client, api):
    h = api("alice")
    data = {"kind": "organisation", "name": "上海跟进测试有限公司", "mobile": "13811110000", "street": "浦东1号",
            "contacts": [{"name": "王经理", "title": "采购经理"}], "consent": {"purposes": ["service"], "channel": "visit"}}
    no = client.post("/api/v1/customers", json=data, headers=h).json()["archive_no"]
    contact = client.get(f"/api/v1/customers/{no}", headers=h).json()["contacts"][0]["id"]
    r = client.post(f"/api/v1/customers/{no}/followups", json={**FOLLOWUP, "contact_id": contact}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["contact_id"] == contact and r.json()["contact_name"] == "王经理"
    other = create_customer(kehu, as_user=world.ctx("alice"))
    r = client.post(f"/api/v1/customers/{other}/followups", json={**FOLLOWUP, "contact_id": contact}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "contact_not_found"


def test_staff_cannot_follow_up_outside_scope_but_info_manager_can(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("info"), owner_id=world.users["bob"],
                         department_id=world.departments["north"])
    r = client.post(f"/api/v1/customers/{no}/followups", json=FOLLOWUP, headers=api("alice"))
    assert r.status_code == 404
    assert client.get(f"/api/v1/customers/{no}/timeline", headers=api("alice")).status_code == 404
    refused = _audit(kehu, "followup.create")
    assert refused and refused[0].outcome == "denied"
    r = client.post(f"/api/v1/customers/{no}/followups", json=FOLLOWUP, headers=api("info"))
    assert r.status_code == 201, r.text
    assert client.get(f"/api/v1/customers/{no}/followups", headers=api("bob")).json()["items"][0]["id"] == r.json()["id"]


def test_levels_hide_content_from_a_public_only_role(kehu, world, client, api):
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code="public_only", name="仅公开", scope="all")
        s.flush()
        access.set_grants(s, admin, role_code="public_only", grants=[("view", 3), ("create", 3)])
        access.create_user(s, admin, username="pub", display_name="Pub", password=world.password,
                           role_code="public_only", department_id=world.departments["hq"])
    no = create_customer(kehu, as_user=world.ctx("alice"))
    client.post(f"/api/v1/customers/{no}/followups", json=FOLLOWUP, headers=api("alice"))
    item = client.get(f"/api/v1/customers/{no}/timeline", headers=api("pub")).json()["items"][0]
    assert item["method"] == "phone" and "notes" not in item and "notes" in item["_hidden"]
    r = client.post(f"/api/v1/customers/{no}/communications",
                    json={"communicated_on": "2026-03-01", "channel": "meeting", "key_points": "要点"},
                    headers=api("pub"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden_create"  # key points are level 2
    with kehu.db.reader() as s:
        assert s.execute(select(FollowUp)).scalars().all().__len__() == 1


def test_timeline_newest_first_with_keyset_pages(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    for when in ("2026-01-05 09:00", "2026-01-07 15:00", "2026-01-07 08:00"):
        assert client.post(f"/api/v1/customers/{no}/followups", json={**FOLLOWUP, "followed_at": when},
                           headers=h).status_code == 201
    for day, intent in (("2026-01-07", "strong"), ("2026-01-06", "weak"), ("2026-01-01", None)):
        r = client.post(f"/api/v1/customers/{no}/communications",
                        json={"communicated_on": day, "channel": "会议", "key_points": f"{day}纪要", "intent": intent},
                        headers=h)
        assert r.status_code == 201, r.text
    seen, cursor = [], None
    while True:
        page = client.get(f"/api/v1/customers/{no}/timeline", params={"limit": 2, "cursor": cursor},
                          headers=h).json()
        assert len(page["items"]) <= 2
        seen += [(i["type"], i.get("followed_at") or i.get("communicated_on")) for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [("followup", "2026-01-07 15:00"), ("followup", "2026-01-07 08:00"),
                    ("communication", "2026-01-07"), ("communication", "2026-01-06"),
                    ("followup", "2026-01-05 09:00"), ("communication", "2026-01-01")]
    comms = client.get(f"/api/v1/customers/{no}/communications", headers=h).json()["items"]
    assert [c["intent"] for c in comms] == ["strong", "weak", None]
    pages = _audit(kehu, "customer.timeline")
    assert len(pages) == 3 and "communication.key_points" not in pages[0].fields  # page 1: follow-ups only
    assert "communication.key_points" in pages[1].fields
    for bad in ("bm9wZQ==", "WyJhYmMiLCAiMSJd", "!!"):  # not JSON; a key that is no date; not base64
        assert client.get(f"/api/v1/customers/{no}/timeline", params={"cursor": bad}, headers=h).status_code == 422


def test_invalid_followup_names_every_field_and_writes_nothing(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    r = client.post(f"/api/v1/customers/{no}/followups",
                    json={"method": "carrier pigeon", "followed_at": "明天", "next_followup_on": "2026-02-30",
                          "notes": "x" * 2001}, headers=api("alice"))
    assert r.status_code == 422
    errors = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert errors == {"method": "invalid_choice", "followed_at": "datetime_invalid",
                      "next_followup_on": errors["next_followup_on"], "notes": "too_long"}
    assert all(e["message"] for e in r.json()["errors"])
    r = client.post(f"/api/v1/customers/{no}/communications", json={"channel": "wechat"}, headers=api("alice"))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"channel", "communicated_on", "key_points"}
    assert client.get(f"/api/v1/customers/{no}/timeline", headers=api("alice")).json()["items"] == []


@pytest.mark.parametrize("user", ["admin", "auditor"])
def test_roles_without_customer_grants_see_no_timeline(kehu, world, client, api, user):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    assert client.get(f"/api/v1/customers/{no}/timeline", headers=api(user)).status_code == 404
