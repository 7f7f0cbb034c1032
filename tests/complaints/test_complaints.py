"""Complaints: numbering, deadlines per urgency, the state machine, overdue flags, scope, grants, audit, history."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from kehu.complaints import service
from kehu.complaints.models import Complaint
from kehu.customers.models import History
from tests.complaints.conftest import STEPS, audit_rows, history_of, register_body
from tests.fixtures.world import create_customer

CN = re.compile(r"[\u4e00-\u9fff]")


def step(client, h, no, name, data=None, on="2026-03-04"):
    return client.post(f"/api/v1/complaints/{no}/steps", json={"step": name, "data": data or {}, "on": on},
                       headers=h)


def test_full_workflow_audit_and_history(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    r = client.post("/api/v1/complaints", json=register_body(cno), headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    no = body["complaint_no"]
    assert re.fullmatch(rf"TS{date.today().year}\d{{6}}", no) and r.headers["Location"].endswith(no)
    assert body["status"] == "registered" and body["kind"] == "goods" and body["urgency"] == "urgent"
    assert body["promised_on"] == "2026-03-05" and body["content"].startswith("收到的打印机")
    for name, data in STEPS:
        r = step(client, h, no, name, data)
        assert r.status_code == 200, (name, r.text)
    body = client.get(f"/api/v1/complaints/{no}", params={"as_of": "2026-04-01"}, headers=h).json()
    assert body["status"] == "closed" and body["status_label"] == "已结案"
    assert body["cause"] == "物流运输中包装不足导致破损" and body["handling"] == "exchange"
    assert body["loss_amount"] == "350.50" and body["satisfaction"] == "satisfied"
    assert body["handled_on"] == "2026-03-04" and body["closed_on"] == "2026-03-04"
    assert body["overdue"] is False and body["late"] is False  # closed within the promise: as_of does not matter
    # audit: one entry per step, field names only, never the values
    reg = audit_rows(kehu, "complaint.register")
    assert len(reg) == 1 and "complaint.content" in reg[0].fields and "打印机" not in reg[0].fields
    for name, data in STEPS:
        rows = audit_rows(kehu, f"complaint.{name}")
        assert len(rows) == 1 and rows[0].outcome == "ok" and rows[0].customer_no == cno
        assert "complaint.status" in rows[0].fields
        for key, value in data.items():
            assert f"complaint.{key}" in rows[0].fields
            assert value not in rows[0].fields + (rows[0].detail or "")
        assert rows[0].reason.startswith("投诉") and rows[0].reason.endswith(f"（{no}）")
    # change history: every changed field with the step as reason
    with kehu.db.reader() as s:
        cid = s.execute(select(Complaint.id).where(Complaint.complaint_no == no)).scalar_one()
    hist = history_of(kehu, cid)
    assert [f for f, *_ in hist if f == "status"] == ["status"] * 5
    assert ("status", "registered", "investigated", f"投诉调查（{no}）") in hist
    assert ("loss_amount", None, "350.50", f"投诉处理（{no}）") in hist
    assert ("closed_on", None, "2026-03-04", f"投诉结案（{no}）") in hist
    r = client.get(f"/api/v1/customers/{cno}/history", headers=h)
    assert r.status_code == 200, r.text
    shown = [i for i in r.json()["items"] if i["entity"] == "complaint"]
    assert {(i["label"], i["new_value"]) for i in shown} >= {("投诉原因", "物流运输中包装不足导致破损"),
                                                             ("处理方式", "exchange")}


def test_deadline_defaults_per_urgency_and_override(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    for urgency, promised in (("特急", "2026-03-03"), ("急", "2026-03-05"), ("一般", "2026-03-09"),
                              ("critical", "2026-03-03")):
        r = client.post("/api/v1/complaints", json=register_body(cno, urgency=urgency), headers=h)
        assert r.status_code == 201 and r.json()["promised_on"] == promised, (urgency, r.text)
    r = client.post("/api/v1/complaints", json=register_body(cno, urgency="一般", promised_on="2026-03-20"),
                    headers=h)
    assert r.json()["promised_on"] == "2026-03-20"
    r = client.post("/api/v1/complaints", json=register_body(cno, received_on=None), headers=h)
    assert r.json()["received_on"] == date.today().isoformat()  # default: the day of registration
    nos = [int(i["complaint_no"][-6:]) for i in
           client.get("/api/v1/complaints", params={"customer_no": cno}, headers=h).json()["items"]]
    assert nos == [6, 5, 4, 3, 2, 1]


def test_deadline_days_are_configurable(kehu, world):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    kehu.settings.__dict__["complaint_deadline_days"] = {"normal": 10}
    try:
        with kehu.db.transaction() as s:
            body = service.register(s, world.ctx("alice"), customer_no=cno, data={
                "kind": "服务", "channel": "email", "urgency": "一般", "received_on": "2026-03-02", "content": "x"},
                today=date(2026, 3, 2))
    finally:
        kehu.settings.__dict__.pop("complaint_deadline_days", None)
    assert body["promised_on"] == "2026-03-12"


def test_invalid_registration_names_every_field(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    bad = {"customer_no": cno, "kind": "食品", "channel": "", "urgency": "很急", "received_on": "2026-13-01",
           "cause": "x"}
    r = client.post("/api/v1/complaints", json=bad, headers=api("alice"))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert errors == {"kind": "invalid_choice", "channel": "required", "urgency": "invalid_choice",
                      "received_on": errors["received_on"], "content": "required", "cause": "not_at_register"}
    assert errors["received_on"] in ("date_invalid", "invalid_date")
    assert all(CN.search(e["message"]) for e in r.json()["errors"])
    r = client.post("/api/v1/complaints", json=register_body(cno, complaint_no="TS1", status="closed"),
                    headers=api("alice"))
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"complaint_no", "status"}
    r = client.post("/api/v1/complaints", json=register_body(cno, promised_on="2026-03-01"), headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "promised_on"
    r = client.post("/api/v1/complaints", json=register_body(None), headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_no"
    with kehu.db.reader() as s:
        assert s.execute(select(func.count()).select_from(Complaint)).scalar_one() == 0


@pytest.mark.parametrize("done", range(6))
def test_every_invalid_transition_is_refused_and_writes_nothing(kehu, world, client, api, done):
    """After `done` steps, every step other than the next one is refused with 409 and changes nothing."""
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    no = client.post("/api/v1/complaints", json=register_body(cno), headers=h).json()["complaint_no"]
    for name, data in STEPS[:done]:
        assert step(client, h, no, name, data).status_code == 200
    before = client.get(f"/api/v1/complaints/{no}", headers=h).json()
    with kehu.db.reader() as s:
        n_hist = s.execute(select(func.count()).select_from(History)).scalar_one()
    status_label = before["status_label"]
    for i, (name, data) in enumerate(STEPS):
        if i == done:
            continue
        r = step(client, h, no, name, data)
        assert r.status_code == 409, (done, name, r.text)
        err = r.json()
        assert err["code"] == "invalid_transition" and err["current"] == before["status"] and err["step"] == name
        assert status_label in err["message"] and CN.search(err["message"])
    after = client.get(f"/api/v1/complaints/{no}", headers=h).json()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {k: v for k, v in before.items()
                                                                     if k != "updated_at"}
    with kehu.db.reader() as s:
        assert s.execute(select(func.count()).select_from(History)).scalar_one() == n_hist
    for name, _data in STEPS:
        assert len(audit_rows(kehu, f"complaint.{name}")) == (1 if (name, _data) in STEPS[:done] else 0)


def test_step_validation(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    no = client.post("/api/v1/complaints", json=register_body(cno), headers=h).json()["complaint_no"]
    r = step(client, h, no, "approve")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "step"
    r = step(client, h, no, "investigate", {"countermeasure": "x"})
    assert r.status_code == 422
    assert {e["field"]: e["code"] for e in r.json()["errors"]} == {"countermeasure": "not_in_step",
                                                                   "cause": "required"}
    for name, data in STEPS[:2]:
        step(client, h, no, name, data)
    r = step(client, h, no, "handle", {"handling": "赔钱", "loss_amount": "-5", "responsible_department_id": "nope"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"handling", "loss_amount", "responsible_department_id"}
    r = step(client, h, no, "handle", {"handling": "维修", "responsible_department_id": world.departments["service"]})
    assert r.status_code == 200 and r.json()["responsible_department_id"] == world.departments["service"]
    assert client.get(f"/api/v1/complaints/{no}", headers=h).json()["status"] == "handled"


def test_overdue_flagging_on_fixed_dates(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    crit = client.post("/api/v1/complaints", json=register_body(cno, urgency="特急"), headers=h).json()
    norm = client.post("/api/v1/complaints", json=register_body(cno, urgency="一般"), headers=h).json()
    late = client.post("/api/v1/complaints", json=register_body(cno, urgency="特急"), headers=h).json()
    for name, data in STEPS:  # closed on 2026-03-06, promised 2026-03-03: late, never overdue
        assert step(client, h, late["complaint_no"], name, data, on="2026-03-06").status_code == 200

    def overdue(as_of):
        r = client.get("/api/v1/complaints", params={"overdue": "true", "as_of": as_of}, headers=h)
        return [i["complaint_no"] for i in r.json()["items"]]

    assert overdue("2026-03-03") == []  # the promised day itself is not overdue
    assert overdue("2026-03-04") == [crit["complaint_no"]]
    assert overdue("2026-03-10") == [norm["complaint_no"], crit["complaint_no"]]
    listed = client.get("/api/v1/complaints", params={"overdue": "false", "as_of": "2026-03-10"}, headers=h).json()
    assert [i["complaint_no"] for i in listed["items"]] == [late["complaint_no"]]
    one = client.get(f"/api/v1/complaints/{crit['complaint_no']}", params={"as_of": "2026-03-10"}, headers=h).json()
    assert one["overdue"] is True and one["days_past_deadline"] == 7
    done = client.get(f"/api/v1/complaints/{late['complaint_no']}", params={"as_of": "2026-04-10"}, headers=h).json()
    assert done["overdue"] is False and done["late"] is True and done["days_past_deadline"] == 3
    for name, data in STEPS:
        step(client, h, crit["complaint_no"], name, data, on="2026-03-11")
    assert overdue("2026-03-12") == [norm["complaint_no"]]
    r = client.get("/api/v1/complaints", params={"status": "bogus"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"


def test_scope_404_outside_and_list_filtered(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    no = client.post("/api/v1/complaints", json=register_body(cno), headers=api("alice")).json()["complaint_no"]
    assert client.get(f"/api/v1/complaints/{no}", headers=api("bob")).status_code == 404
    r = step(client, api("bob"), no, "investigate", {"cause": "x"})
    assert r.status_code == 404
    assert client.get("/api/v1/complaints", headers=api("bob")).json()["items"] == []
    r = client.post("/api/v1/complaints", json=register_body(cno), headers=api("bob"))
    assert r.status_code == 404
    assert client.get(f"/api/v1/complaints/{no}", headers=api("head")).status_code == 200  # department head
    assert client.get(f"/api/v1/complaints/{no}", headers=api("alice")).json()["status"] == "registered"
    denied = [row for row in audit_rows(kehu, "complaint.step") if row.outcome == "denied"]
    assert len(denied) == 1
    assert len(audit_rows(kehu, "complaint.investigate")) == 0


def test_grants_hide_level_two_and_refuse_steps(kehu, world, client, api, public_only):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    no = client.post("/api/v1/complaints", json=register_body(cno), headers=h).json()["complaint_no"]
    step(client, h, no, "investigate", {"cause": "包装不足"})
    seen = client.get(f"/api/v1/complaints/{no}", headers=api(public_only)).json()
    assert seen["urgency"] == "urgent" and "content" not in seen and "cause" not in seen
    assert {"content", "cause", "loss_amount"} <= set(seen["_hidden"])
    r = step(client, api(public_only), no, "countermeasure", {"countermeasure": "x"})
    assert r.status_code == 403
    r = client.post("/api/v1/complaints", json=register_body(cno), headers=api(public_only))
    assert r.status_code == 403
    assert client.get(f"/api/v1/complaints/{no}", headers=h).json()["status"] == "investigated"
    read = audit_rows(kehu, "complaint.read")
    assert "complaint.content" not in read[-2].fields and "complaint.urgency" in read[-2].fields  # pub's read


def test_archived_customer_takes_no_new_complaint(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    r = client.request("DELETE", f"/api/v1/customers/{cno}", json={"reason": "合作结束"}, headers=api("info"))
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/complaints", json=register_body(cno), headers=api("alice"))
    assert r.status_code == 409 and r.json()["code"] == "customer_archived"
