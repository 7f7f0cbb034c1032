"""Collection channels and review (审核): system tokens and scope, the public form, approve / correct / reject."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from kehu.consent import basis
from kehu.consent.models import ConsentRecord
from kehu.customers.models import Customer
from kehu.intake import service
from kehu.intake.models import IntakeCorrection, IntakeSubmission
from tests.fixtures.world import create_customer, id_number

FIELDS = ["name", "mobile", "email", "street", "province", "city", "id_number", "birth_date"]
PERSON = {"name": "林小雨", "mobile": "13612345678", "email": "lin@example.com", "street": "滨江路8号",
          "province": "浙江省", "city": "杭州市"}
CONSENT = {"purposes": ["service"], "notice_version": "1.0"}


def _register(kehu, world, **kw) -> dict:
    args = {"kind": "system", "code": "erp", "name": "ERP 系统", "fields": FIELDS, "purposes": ["service", "marketing"],
            "needs_review": True} | kw
    with kehu.db.transaction() as s:
        return service.register(s, world.ctx("info"), **args)


def _count(kehu, model) -> int:
    with kehu.db.reader() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _submit(client, token: str, data: dict, consent: dict | None = None):
    return client.post("/api/v1/intake/submissions", json={"data": data, "consent": consent or CONSENT},
                       headers={"Authorization": f"Bearer {token}"})


def test_system_token_scope_and_nothing_written_on_bad_input(client, api, kehu, world):
    r = client.post("/api/v1/intake/channels", headers=api("info"), json={
        "kind": "system", "code": "erp", "name": "ERP 系统", "fields": FIELDS, "purposes": ["service"]})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token.startswith("kehu_sys_")
    listed = client.get("/api/v1/intake/channels", headers=api("info")).json()
    assert token not in str(listed)  # shown once, stored hashed
    with kehu.db.reader() as s:
        assert s.execute(text("SELECT count(*) FROM intake_channels WHERE token_digest = :d"),
                         {"d": service.digest(token)}).scalar_one() == 1
    assert _submit(client, "kehu_sys_wrong", PERSON).status_code == 401
    assert client.post("/api/v1/intake/submissions", json={"data": PERSON}).status_code == 401
    denied = client.get("/api/v1/audit", params={"action": "intake.submit"}, headers=api("auditor")).json()["items"]
    assert len(denied) == 2 and {e["outcome"] for e in denied} == {"denied"}
    r = _submit(client, token, {**PERSON, "bank_account": "6222020200112233445", "importance": "key"})
    assert r.status_code == 422
    assert {e["field"]: e["code"] for e in r.json()["errors"]} == {"bank_account": "out_of_scope",
                                                                     "importance": "out_of_scope"}
    r = _submit(client, token, {**PERSON, "mobile": "12"}, {"purposes": ["marketing"]})  # purpose not offered
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"mobile", "consent.purposes"}
    assert _count(kehu, IntakeSubmission) == 0 and _count(kehu, Customer) == 0
    r = _submit(client, token, PERSON)
    assert r.status_code == 202 and r.json()["status"] == "pending"


def test_registration_needs_the_right_and_valid_scope(client, api, kehu, world):
    body = {"kind": "system", "code": "crm", "name": "旧CRM", "fields": ["name"], "purposes": ["service"]}
    assert client.post("/api/v1/intake/channels", json=body, headers=api("alice")).status_code == 403
    r = client.post("/api/v1/intake/channels", headers=api("admin"), json={
        **body, "code": "Bad Code!", "fields": ["name", "shoe_size"], "purposes": ["nope"], "needs_review": False})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"code", "fields", "purposes", "owner_id"}


def test_submitted_values_are_sealed_and_audited_without_values(client, api, kehu, world):
    token = _register(kehu, world)["token"]
    data = {**PERSON, "id_number": id_number(31)}
    r = _submit(client, token, data, {**CONSENT, "sensitive": False})
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "id_number", "code": "sensitive_consent_required",
        "message": "身份证号：属于敏感个人信息（一级），须取得客户的单独同意"}
    r = _submit(client, token, data, {**CONSENT, "sensitive": True})
    assert r.status_code == 202
    with kehu.db.reader() as s:
        raw = s.execute(text("SELECT payload, dek FROM intake_submissions")).one()
        audit = " ".join(str(v) for v in s.execute(text("SELECT * FROM audit_log")).all())
    for secret in (data["id_number"], data["mobile"], data["email"], "林小雨"):
        assert secret.encode() not in bytes(raw.payload) and secret not in audit
    assert "intake.submit" in audit and "customer.id_number" in audit


def test_approve_creates_the_archive_with_its_consent(client, api, kehu, world):
    token = _register(kehu, world)["token"]
    sid = _submit(client, token, PERSON, {"purposes": ["service", "marketing"]}).json()["submission_id"]
    assert _count(kehu, Customer) == 0  # only approved data becomes effective
    queue = client.get("/api/v1/intake/submissions", headers=api("info")).json()
    assert [q["id"] for q in queue] == [sid] and queue[0]["name"] != "林小雨"  # name masked (level 2, mask rule)
    assert client.get("/api/v1/intake/submissions", headers=api("alice")).status_code == 403
    r = client.post(f"/api/v1/intake/submissions/{sid}/decision", json={"decision": "approve"}, headers=api("info"))
    assert r.status_code == 200, r.text
    no = r.json()["archive_no"]
    body = client.get(f"/api/v1/customers/{no}", headers=api("info")).json()
    assert body["source_channel"] == "system" and body["city"] == "杭州市"
    with kehu.db.reader() as s:
        cid = s.execute(select(Customer.id).where(Customer.archive_no == no)).scalar_one()
        assert basis.allowed(s, [cid], "marketing") == {cid}
        record = s.execute(select(ConsentRecord).where(ConsentRecord.customer_id == cid)).scalar_one()
        assert record.channel == "system" and record.source == f"intake:{sid}"
        sub = s.get(IntakeSubmission, sid)
        assert sub.status == "approved" and sub.payload is None and sub.dek is None  # values live in the archive
    r = client.post(f"/api/v1/intake/submissions/{sid}/decision", json={"decision": "approve"}, headers=api("info"))
    assert r.status_code == 409


def test_correct_then_approve_records_each_correction(client, api, kehu, world):
    token = _register(kehu, world)["token"]
    sid = _submit(client, token, {**PERSON, "street": None}).json()["submission_id"]
    r = client.post(f"/api/v1/intake/submissions/{sid}/decision", json={"decision": "approve"}, headers=api("info"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "street"  # archive rules still apply
    r = client.post(f"/api/v1/intake/submissions/{sid}/decision", headers=api("info"), json={
        "decision": "approve", "corrections": {"street": "滨江路18号", "mobile": "13612345679"}, "reason": "电话核实"})
    assert r.status_code == 200, r.text
    assert r.json()["corrections"] == ["mobile", "street"]
    no = r.json()["archive_no"]
    shown = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["mobile", "street"], "reason": "核对"},
                        headers=api("info")).json()["values"]
    assert shown == {"mobile": "13612345679", "street": "滨江路18号"}
    with kehu.db.reader() as s:
        rows = s.execute(select(IntakeCorrection).where(IntakeCorrection.submission_id == sid)).scalars().all()
        assert sorted(r.field for r in rows) == ["mobile", "street"]
        assert all(b"13612345679" not in (r.new_value or b"") for r in rows)  # sealed
    entries = client.get("/api/v1/audit", params={"action": "intake.approve"}, headers=api("auditor")).json()["items"]
    assert entries and "customer.mobile" in entries[0]["fields"]


def test_reject_needs_a_reason_and_erases_the_values(client, api, kehu, world):
    token = _register(kehu, world)["token"]
    sid = _submit(client, token, PERSON).json()["submission_id"]
    r = client.post(f"/api/v1/intake/submissions/{sid}/decision", json={"decision": "reject"}, headers=api("info"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = client.post(f"/api/v1/intake/submissions/{sid}/decision", json={"decision": "reject", "reason": "信息不实"},
                    headers=api("info"))
    assert r.status_code == 200
    with kehu.db.reader() as s:
        sub = s.get(IntakeSubmission, sid)
        assert (sub.status, sub.reason, sub.payload, sub.customer_id) == ("rejected", "信息不实", None, None)
    assert _count(kehu, Customer) == 0
    assert client.get("/api/v1/intake/submissions", params={"status": "rejected"},
                      headers=api("info")).json()[0]["reason"] == "信息不实"


def test_duplicates_against_existing_archives_are_shown(client, api, kehu, world):
    existing = create_customer(kehu, as_user=world.ctx("alice"), mobile="13612345678")
    token = _register(kehu, world)["token"]
    sid = _submit(client, token, PERSON).json()["submission_id"]
    body = client.get(f"/api/v1/intake/submissions/{sid}", headers=api("info")).json()
    assert body["duplicates"] == [{"field": "mobile", "label": "手机", "archive_no": existing}]
    r = client.post(f"/api/v1/intake/submissions/{sid}/decision", json={"decision": "approve"}, headers=api("info"))
    assert r.status_code == 409 and r.json()["archive_no"] == existing  # exact duplicates stay blocked


def test_system_without_review_files_at_once_as_its_owner(client, api, kehu, world):
    token = _register(kehu, world, code="shop", needs_review=False, owner_id=world.users["alice"])["token"]
    r = _submit(client, token, PERSON)
    assert r.status_code == 201, r.text
    body = client.get(f"/api/v1/customers/{r.json()['archive_no']}", headers=api("alice")).json()
    assert body["owner_name"] == "Alice"
    assert _count(kehu, IntakeSubmission) == 0


def test_minor_submission_needs_guardian(client, api, kehu, world):
    token = _register(kehu, world)["token"]
    born = (date.today() - timedelta(days=365 * 12)).isoformat()
    data = {"name": "小明", "birth_date": born, "mobile": "13700001234", "street": "学院路1号"}
    r = _submit(client, token, data, {**CONSENT, "sensitive": True})
    assert r.status_code == 422 and "guardian_consent_required" in {e["code"] for e in r.json()["errors"]}
    r = _submit(client, token, data, {**CONSENT, "sensitive": True, "guardian_name": "王芳",
                                      "guardian_relation": "mother"})
    assert r.status_code == 202


# --- the public form ----------------------------------------------------------------------------

@pytest.fixture
def form_channel(kehu, world):
    _register(kehu, world, kind="form", code="expo", name="展会登记", fields=["name", "mobile", "street", "id_number"])
    return "expo"


def _form_token(client, code: str) -> str:
    page = client.get(f"/collect/{code}")
    assert page.status_code == 200 and "客户个人信息保护告知书" in page.text  # the notice is shown
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)


def test_public_form_submits_for_review(client, kehu, world, form_channel):
    token = _form_token(client, form_channel)
    r = client.post(f"/collect/{form_channel}", data={
        "form_token": token, "name": "赵敏", "mobile": "13512340000", "street": "会展路1号",
        "consent_purposes": "service", "consent_notice_version": "1.0"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/collect/{form_channel}/done"
    assert _count(kehu, IntakeSubmission) == 1 and _count(kehu, Customer) == 0


def test_public_form_refuses_without_token_and_with_bad_input(client, kehu, world, form_channel):
    r = client.post(f"/collect/{form_channel}", data={"name": "赵敏", "consent_purposes": "service"})
    assert r.status_code == 403 and "表单已过期" in r.text
    token = _form_token(client, form_channel)
    r = client.post(f"/collect/{form_channel}", data={"form_token": token, "name": "赵敏", "mobile": "135",
                                                      "id_number": id_number(3), "consent_purposes": "service"})
    assert r.status_code == 422 and "手机号码无效" in r.text and "须取得客户的单独同意" in r.text
    assert _count(kehu, IntakeSubmission) == 0


def test_public_form_is_rate_limited_per_address(client, kehu, world, form_channel):
    token = _form_token(client, form_channel)
    limit = kehu.settings.intake_rate_limit
    for _ in range(limit):
        assert client.post(f"/collect/{form_channel}", data={"form_token": token, "name": ""}).status_code == 422
    r = client.post(f"/collect/{form_channel}", data={
        "form_token": token, "name": "赵敏", "mobile": "13512340000", "consent_purposes": "service"})
    assert r.status_code == 429 and "提交过于频繁" in r.text
    assert _count(kehu, IntakeSubmission) == 0


def test_sliding_window_forgets_old_events():
    from kehu.intake.ratelimit import RateLimited, SlidingWindow

    now = [0.0]
    window = SlidingWindow(2, 60, clock=lambda: now[0])
    window.hit("a")
    window.hit("a")
    window.hit("b")
    with pytest.raises(RateLimited) as err:
        window.hit("a")
    assert err.value.status == 429 and "60秒" in err.value.message
    now[0] = 61.0
    window.hit("a")
