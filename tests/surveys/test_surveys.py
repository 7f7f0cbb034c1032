"""Satisfaction surveys: questionnaires, send → answer → scores, the complaint's evaluation, schedule, scope."""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select

from kehu.customers import service as customers
from kehu.surveys import service
from kehu.surveys.models import Survey, SurveyAnswer
from tests.complaints.conftest import STEPS, audit_rows, register_body
from tests.fixtures.world import create_customer

ALL = {"service_quality": 5, "attitude": "满意", "efficiency": "4", "expertise": "一般", "product_quality": 4,
       "packaging": "非常满意"}


def handled_complaint(client, h, cno: str) -> str:
    no = client.post("/api/v1/complaints", json=register_body(cno), headers=h).json()["complaint_no"]
    for name, data in STEPS[:3]:
        r = client.post(f"/api/v1/complaints/{no}/steps", json={"step": name, "data": data, "on": "2026-03-04"},
                        headers=h)
        assert r.status_code == 200, r.text
    return no


def test_default_questionnaire_and_management(kehu, world, client, api, survey_admin):
    listed = client.get("/api/v1/survey-templates", headers=api("alice")).json()
    assert [t["code"] for t in listed] == ["default"]
    assert [i["label"] for i in listed[0]["items"]] == ["服务质量", "服务态度", "办事效率", "专业水平", "产品质量",
                                                       "产品包装"]
    body = {"code": "after_sales", "name": "售后回访", "items": [{"code": "speed", "label": "响应速度"},
                                                                 {"code": "result", "label": "维修效果"}]}
    assert client.post("/api/v1/survey-templates", json=body, headers=api("alice")).status_code == 403
    r = client.post("/api/v1/survey-templates", json=body, headers=api(survey_admin))
    assert r.status_code == 201 and [i["code"] for i in r.json()["items"]] == ["speed", "result"]
    r = client.post("/api/v1/survey-templates", json={"code": "after_sales", "items": [{"code": "a"}, {"code": "a"}]},
                    headers=api(survey_admin))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"code", "name", "items[0].label", "items[1].label",
                                                       "items[1].code"}
    r = client.patch("/api/v1/survey-templates/after_sales", json={"active": False}, headers=api(survey_admin))
    assert r.status_code == 200 and r.json()["active"] is False
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    r = client.post("/api/v1/surveys", json={"customer_no": cno, "template": "after_sales"}, headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "template"


def test_handled_complaint_sends_survey_whose_answer_evaluates_it(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    no = handled_complaint(client, h, cno)
    surveys = client.get(f"/api/v1/customers/{cno}/surveys", headers=h).json()["items"]
    assert len(surveys) == 1  # sent by the complaint.handled subscriber
    sv = surveys[0]
    assert sv["trigger"] == "complaint" and sv["status"] == "sent" and sv["sent_on"] == "2026-03-04"
    r = client.post(f"/api/v1/surveys/{sv['id']}/answers", json={"answers": ALL, "comment": "换货很快",
                                                                 "answered_on": "2026-03-08"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "answered" and body["overall_score"] == "4.17" and body["complaint_evaluated"] is True
    assert [(a["item"], a["score"], a["level"]) for a in body["answers"]] == [
        ("service_quality", 5, "非常满意"), ("attitude", 4, "满意"), ("efficiency", 4, "满意"),
        ("expertise", 3, "一般"), ("product_quality", 4, "满意"), ("packaging", 5, "非常满意")]
    complaint = client.get(f"/api/v1/complaints/{no}", headers=h).json()
    assert complaint["status"] == "evaluated" and complaint["satisfaction"] == "satisfied"
    stored = client.get(f"/api/v1/customers/{cno}/surveys", headers=h).json()["items"][0]
    assert stored["comment"] == "换货很快" and stored["answered_on"] == "2026-03-08"
    assert len(stored["answers"]) == 6
    rows = audit_rows(kehu, "survey.answer")
    assert len(rows) == 1 and "survey_answer.score" in rows[0].fields and "换货" not in rows[0].fields
    ev = audit_rows(kehu, "complaint.evaluate")
    assert len(ev) == 1 and sv["id"] in ev[0].detail and "satisfied" not in ev[0].detail
    assert len(audit_rows(kehu, "survey.send")) == 1
    r = client.post(f"/api/v1/surveys/{sv['id']}/answers", json={"answers": ALL}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "already_answered"
    r = client.post("/api/v1/surveys", json={"customer_no": cno, "complaint_no": no}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "already_surveyed"
    assert client.post(f"/api/v1/complaints/{no}/steps", json={"step": "close", "on": "2026-03-09"},
                       headers=h).json()["status"] == "closed"


def test_subscriber_is_idempotent(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    handled_complaint(client, api("alice"), cno)
    with kehu.db.reader() as s:
        complaint_id = s.execute(select(Survey.complaint_id)).scalar_one()
    with kehu.db.transaction() as s:
        assert service.send_for_complaint(s, world.ctx("alice"), complaint_id=complaint_id,
                                          today=date(2026, 3, 5)) is None
    with kehu.db.reader() as s:
        assert s.execute(select(func.count()).select_from(Survey)).scalar_one() == 1


def test_invalid_answers_name_every_field_and_write_nothing(kehu, world, client, api):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    sv = client.post("/api/v1/surveys", json={"customer_no": cno}, headers=h)
    assert sv.status_code == 201 and sv.json()["trigger"] == "manual"
    sid = sv.json()["id"]
    bad = {"service_quality": 6, "attitude": 0, "efficiency": "很好", "expertise": 4.5, "taste": 5,
           "product_quality": "3.5"}
    r = client.post(f"/api/v1/surveys/{sid}/answers", json={"answers": bad, "comment": "x" * 2001}, headers=h)
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert errors == {"answers.service_quality": "score_range", "answers.attitude": "score_range",
                      "answers.efficiency": "score_range", "answers.expertise": "score_range",
                      "answers.taste": "unknown_item", "answers.product_quality": "score_range",
                      "answers.packaging": "required", "comment": "too_long"}
    assert all(re.search(r"[\u4e00-\u9fff]", e["message"]) for e in r.json()["errors"])
    with kehu.db.reader() as s:
        assert s.execute(select(func.count()).select_from(SurveyAnswer)).scalar_one() == 0
        assert s.execute(select(Survey.status)).scalar_one() == "sent"
    assert audit_rows(kehu, "survey.answer") == []


def test_scope_and_grants(kehu, world, client, api, public_only):
    cno = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    sid = client.post("/api/v1/surveys", json={"customer_no": cno}, headers=h).json()["id"]
    assert client.post("/api/v1/surveys", json={"customer_no": cno}, headers=api("bob")).status_code == 404
    assert client.get(f"/api/v1/customers/{cno}/surveys", headers=api("bob")).status_code == 404
    r = client.post(f"/api/v1/surveys/{sid}/answers", json={"answers": ALL}, headers=api("bob"))
    assert r.status_code == 404
    r = client.post(f"/api/v1/surveys/{sid}/answers", json={"answers": ALL}, headers=api(public_only))
    assert r.status_code == 403
    assert client.post(f"/api/v1/surveys/{sid}/answers", json={"answers": ALL}, headers=h).status_code == 200
    seen = client.get(f"/api/v1/customers/{cno}/surveys", headers=api(public_only)).json()["items"][0]
    assert "overall_score" not in seen and "overall_score" in seen["_hidden"]
    assert all("score" not in a for a in seen["answers"])


def test_schedule_due_by_importance(kehu, world, client, api):
    alice = world.ctx("alice")
    key = create_customer(kehu, as_user=alice)
    core = create_customer(kehu, as_user=alice)
    normal = create_customer(kehu, as_user=alice)
    with kehu.db.transaction() as s:
        customers.update(s, alice, archive_no=key, data={"importance": "key"}, reason="重要客户")
    with kehu.db.transaction() as s:
        customers.update(s, alice, archive_no=core, data={"importance": "core"}, reason="核心客户")
    with kehu.db.transaction() as s:
        sent = service.schedule_due(s, alice, today=date(2026, 1, 10))["sent"]
    assert sorted(x["customer_no"] for x in sent) == sorted([key, core])
    with kehu.db.transaction() as s:
        assert service.schedule_due(s, alice, today=date(2026, 4, 9))["sent"] == []
    with kehu.db.transaction() as s:  # 90 days later: the key customer is due again, the core one (180) not yet
        sent = service.schedule_due(s, alice, today=date(2026, 4, 10))["sent"]
    assert [x["customer_no"] for x in sent] == [key]
    r = client.post("/api/v1/surveys/schedule", json={"as_of": "2026-07-10"}, headers=api("bob"))
    assert r.status_code == 200 and r.json()["sent"] == []  # bob's scope holds none of them
    listed = client.get(f"/api/v1/customers/{normal}/surveys", headers=api("alice")).json()["items"]
    assert listed == []
