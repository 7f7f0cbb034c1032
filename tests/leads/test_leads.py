"""Leads (商机) with configurable stages C/B/A1/A2/A3: stage changes with history, invalid codes, scope."""
from __future__ import annotations

from sqlalchemy import func, select

from kehu.audit.models import AuditEntry
from kehu.leads.models import Lead, LeadChange
from tests.fixtures.world import create_customer
from tests.pools.helpers import give_capability

LEAD = {"title": "年度软件采购", "expected_amount": "120000.50", "expected_sign_on": "2027-06-30"}


def _counts(kehu) -> tuple[int, int]:
    with kehu.db.reader() as s:
        return (s.execute(select(func.count()).select_from(Lead)).scalar_one(),
                s.execute(select(func.count()).select_from(LeadChange)).scalar_one())


def test_default_stages_are_configurable(kehu, world, client, api):
    r = client.get("/api/v1/lead-stages", headers=api("alice"))
    assert [s["code"] for s in r.json()["items"]] == ["C", "B", "A1", "A2", "A3"]
    assert client.put("/api/v1/lead-stages/A4", json={"name": "A4"}, headers=api("head")).status_code == 403
    r = client.put("/api/v1/lead-stages/A4", json={"name": "A4 类（已签约待回款）", "sort_order": 60,
                                                 "description": "合同已签"}, headers=api("info"))
    assert r.status_code == 200, r.text
    r = client.put("/api/v1/lead-stages/c1", json={"name": "x"}, headers=api("info"))
    assert r.status_code == 422
    r = client.put("/api/v1/lead-stages/B", json={"active": False}, headers=api("info"))
    assert r.status_code == 200 and r.json()["active"] is False
    codes = [s["code"] for s in client.get("/api/v1/lead-stages", headers=api("alice")).json()["items"]]
    assert codes == ["C", "B", "A1", "A2", "A3", "A4"]
    no = create_customer(kehu, as_user=world.ctx("alice"))
    r = client.post(f"/api/v1/customers/{no}/leads", json={**LEAD, "stage": "B"}, headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "stage_invalid"  # inactive stage


def test_stage_changes_with_history(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    r = client.post(f"/api/v1/customers/{no}/leads", json=LEAD, headers=h)
    assert r.status_code == 201, r.text
    lead = r.json()
    assert lead["stage"] == "C" and lead["expected_amount"] == "120000.50" and lead["title"] == "年度软件采购"
    r = client.post(f"/api/v1/leads/{lead['id']}/stage", json={"stage": "B", "reason": "客户确认预算"}, headers=h)
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/leads/{lead['id']}/stage", json={"stage": "A2"}, headers=h)
    body = r.json()
    assert body["stage"] == "A2" and body["stage_name"].startswith("A2")
    assert [(c["from_stage"], c["to_stage"], c["reason"], c["changed_by"]) for c in body["history"]] == [
        (None, "C", "新建商机", "Alice"), ("C", "B", "客户确认预算", "Alice"), ("B", "A2", None, "Alice")]
    assert all(c["changed_at"] for c in body["history"])
    listed = client.get(f"/api/v1/customers/{no}/leads", headers=h).json()["items"]
    assert [i["id"] for i in listed] == [lead["id"]] and len(listed[0]["history"]) == 3
    with kehu.db.reader() as s:
        audit = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "lead.stage")
                          .order_by(AuditEntry.seq)).scalars().all()
    assert len(audit) == 2 and '"to": "A2"' in audit[1]
    # the same stage again is a conflict
    r = client.post(f"/api/v1/leads/{lead['id']}/stage", json={"stage": "A2"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "stage_unchanged"


def test_invalid_stage_codes_are_rejected_and_nothing_is_written(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    r = client.post(f"/api/v1/customers/{no}/leads", json={**LEAD, "stage": "Z9"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "stage"
    assert _counts(kehu) == (0, 0)
    lead = client.post(f"/api/v1/customers/{no}/leads", json={**LEAD, "stage": "A1"}, headers=h).json()
    before = _counts(kehu)
    for bad in ("Z9", "a1", "", 3):
        r = client.post(f"/api/v1/leads/{lead['id']}/stage", json={"stage": bad, "reason": "测试"}, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["code"] == "stage_invalid"
    assert _counts(kehu) == before
    with kehu.db.reader() as s:
        assert s.get(Lead, lead["id"]).stage == "A1"


def test_leads_are_scoped(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    lead = client.post(f"/api/v1/customers/{no}/leads", json=LEAD, headers=api("alice")).json()
    assert client.get(f"/api/v1/customers/{no}/leads", headers=api("bob")).status_code == 404
    r = client.post(f"/api/v1/leads/{lead['id']}/stage", json={"stage": "B"}, headers=api("bob"))
    assert r.status_code == 404
    r = client.post(f"/api/v1/leads/{lead['id']}/stage", json={"stage": "B"}, headers=api("head"))
    assert r.status_code == 200  # department head of 销售部 (华东组 below it)
