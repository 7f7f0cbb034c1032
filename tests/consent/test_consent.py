"""Consent (PIPL): level-1 values need the separate consent, minors a guardian's, withdrawal acts at once."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from kehu.consent import basis
from kehu.consent.models import ConsentRecord, ConsentState
from kehu.customers.models import Customer
from kehu.errors import ValidationFailed
from tests.fixtures.world import consent_data, create_customer, customer_data, customer_row, id_number


def _count(kehu, model) -> int:
    with kehu.db.reader() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _customer_id(kehu, no: str) -> str:
    with kehu.db.reader() as s:
        return s.execute(select(Customer.id).where(Customer.archive_no == no)).scalar_one()


def test_level_one_value_refused_without_sensitive_consent(client, api, kehu, world):
    before = (_count(kehu, Customer), _count(kehu, ConsentRecord))
    data = customer_data(bank_account="6222020200112233445")
    data["consent"]["sensitive"] = False
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 422
    refused = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert refused == {"id_number": "sensitive_consent_required", "bank_account": "sensitive_consent_required"}
    assert (_count(kehu, Customer), _count(kehu, ConsentRecord)) == before  # nothing written
    data["consent"]["sensitive"] = True
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 201, r.text


def test_record_without_level_one_needs_no_sensitive_consent_but_a_consent(client, api, kehu, world):
    data = {**customer_row(id_number=None), "consent": {"purposes": ["service"], "channel": "phone"}}
    assert client.post("/api/v1/customers", json=data, headers=api("alice")).status_code == 201
    bare = customer_row(id_number=None)
    r = client.post("/api/v1/customers", json=bare, headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "consent_required"


def test_consent_input_is_checked_field_by_field(client, api, kehu, world):
    data = customer_data(mobile="123")
    data["consent"] = {"purposes": ["nope"], "channel": "pigeon", "notice_version": "9.9", "scope": ["dreams"]}
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 422
    codes = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert codes["consent.purposes"] == "unknown_purpose" and codes["consent.channel"] == "invalid_choice"
    assert codes["consent.notice_version"] == "unknown_notice" and codes["consent.scope"] == "unknown_category"
    assert codes["mobile"] == "mobile_invalid"  # every problem reported at once
    assert _count(kehu, Customer) == 0


def test_scope_limits_which_field_categories_may_be_collected(client, api, kehu, world):
    data = customer_data(consent=None)
    data["consent"] = consent_data(scope=["identity", "contact"])  # no "location": province/city/district refused
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"] if e["code"] == "outside_consent_scope"} == {
        "province", "city", "district"}


def test_minor_needs_guardian_consent(client, api, kehu, world):
    born = date.today() - timedelta(days=365 * 10)
    data = customer_row(id_number=id_number(77, born=born))
    data["consent"] = consent_data()  # no guardian
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 422
    assert {"consent.guardian_name": "guardian_consent_required"}.items() <= \
        {e["field"]: e["code"] for e in r.json()["errors"]}.items()
    assert _count(kehu, Customer) == 0
    data["consent"] = consent_data(minor=True)
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 201, r.text
    body = client.get(f"/api/v1/customers/{r.json()['archive_no']}/consent", headers=api("alice")).json()
    grant = body["records"][0]
    assert {"guardian_name", "guardian_relation"} <= set(grant["_masked"])  # a minor's identity data: level 1


def test_minor_without_sensitive_consent_cannot_be_recorded(client, api, kehu, world):
    born = date.today() - timedelta(days=365 * 9)
    data = customer_row(id_number=None, birth_date=born.isoformat())
    data["consent"] = consent_data(minor=True, sensitive=False)
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 422  # a minor's personal data is level 1: it needs the separate consent too
    assert {e["code"] for e in r.json()["errors"]} == {"sensitive_consent_required"}


def test_becoming_a_minor_by_update_needs_a_guardian(client, api, kehu, world):
    no = create_customer(kehu, as_user=world.ctx("alice"), id_number=None)
    born = (date.today() - timedelta(days=365 * 8)).isoformat()
    r = client.patch(f"/api/v1/customers/{no}", json={"birth_date": born, "reason": "更正出生日期"},
                     headers=api("head"))
    assert r.status_code == 422 and {e["code"] for e in r.json()["errors"]} == {"guardian_consent_required"}
    r = client.patch(f"/api/v1/customers/{no}", headers=api("head"), json={
        "birth_date": born, "reason": "更正出生日期", "consent": consent_data(minor=True)})
    assert r.status_code == 200, r.text


def test_withdrawal_takes_effect_at_once_on_allows_and_reveal(client, api, kehu, world):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    cid = _customer_id(kehu, no)
    h = api("head")
    with kehu.db.reader() as s:
        assert basis.allows(s, cid, "service") and not basis.allows(s, cid, "marketing")
    r = client.post(f"/api/v1/customers/{no}/consent", json={"purposes": ["marketing"], "channel": "phone"}, headers=h)
    assert r.status_code == 201, r.text
    with kehu.db.reader() as s:
        assert basis.allowed(s, [cid, "unknown"], "marketing") == {cid}
    r = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["id_number"], "reason": "核对身份"}, headers=h)
    assert r.status_code == 200
    r = client.post(f"/api/v1/customers/{no}/consent/withdraw",
                    json={"purposes": ["marketing"], "sensitive": True, "reason": "客户来电撤回"}, headers=h)
    assert r.status_code == 200, r.text
    with kehu.db.reader() as s:
        assert not basis.allows(s, cid, "marketing") and basis.allows(s, cid, "service")
        assert basis.allowed(s, [cid], "marketing") == set()
    r = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["id_number"], "reason": "核对身份"}, headers=h)
    assert r.status_code == 403 and r.json()["code"] == "sensitive_consent_withdrawn"
    r = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["mobile"], "reason": "回访"}, headers=h)
    assert r.status_code == 200  # level 2 is not covered by the sensitive consent
    r = client.patch(f"/api/v1/customers/{no}", json={"allergies": "花生", "reason": "补充"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "sensitive_consent_required"
    body = client.get(f"/api/v1/customers/{no}/consent", headers=h).json()
    assert [x["action"] for x in body["records"]] == ["withdraw", "grant", "grant"]
    assert body["state"]["marketing"]["granted"] is False and body["sensitive"]["granted"] is False


def test_withdraw_all_and_audit(client, api, kehu, world):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    cid = _customer_id(kehu, no)
    r = client.post(f"/api/v1/customers/{no}/consent/withdraw", json={"all": True, "reason": "注销账户"},
                    headers=api("alice"))
    assert r.status_code == 200
    with kehu.db.reader() as s:
        assert s.execute(select(func.count()).select_from(ConsentState).where(
            ConsentState.customer_id == cid, ConsentState.granted)).scalar_one() == 0
    r = client.get("/api/v1/audit", params={"customer_no": no}, headers=api("auditor"))
    actions = [e["action"] for e in r.json()["items"]]
    assert "consent.withdraw" in actions
    assert "注销账户" not in str([e.get("detail") for e in r.json()["items"]])  # reason is in its own column


def test_withdraw_needs_a_reason_and_something_granted(client, api, kehu, world):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    r = client.post(f"/api/v1/customers/{no}/consent/withdraw", json={"purposes": ["marketing"], "reason": "x"},
                    headers=h)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"reason"}
    r = client.post(f"/api/v1/customers/{no}/consent/withdraw", json={"purposes": ["marketing"], "reason": "客户要求"},
                    headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "not_granted"
    assert client.post(f"/api/v1/customers/{no}/consent/withdraw", json={"purposes": ["service"], "reason": "客户要求"},
                       headers=api("bob")).status_code == 404  # out of scope


def test_sensitive_consent_given_with_an_update(client, api, kehu, world):
    data = customer_data(id_number=None)
    data["consent"]["sensitive"] = False
    no = client.post("/api/v1/customers", json=data, headers=api("alice")).json()["archive_no"]
    h = api("head")
    r = client.patch(f"/api/v1/customers/{no}", json={"bank_account": "6222020200112233445", "reason": "开户"},
                     headers=h)
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "bank_account", "code": "sensitive_consent_required",
        "message": "银行账号：属于敏感个人信息（一级），须取得客户的单独同意"}
    r = client.patch(f"/api/v1/customers/{no}", headers=h, json={
        "bank_account": "6222020200112233445", "reason": "开户",
        "consent": {"purposes": ["contract"], "channel": "visit", "sensitive": True}})
    assert r.status_code == 200, r.text


def test_record_many_for_bulk_callers(kehu, world):
    from kehu.customers import bulk

    ctx = world.ctx("info")
    with kehu.db.transaction() as s:
        result = bulk.create_many(s, ctx, [customer_row(), customer_row()], reason="导入")
        ids = list(s.execute(select(Customer.id)).scalars())
        parsed, errors = basis.parse(s, {"purposes": ["service", "contract"], "channel": "import", "sensitive": True})
        assert errors == [] and result.created == 2
        assert basis.record_many(s, ctx, ids, basis.with_source(parsed, "import:test")) == 2
    with kehu.db.reader() as s:
        assert basis.allowed(s, ids, "contract") == set(ids)
        assert s.execute(select(func.count()).select_from(ConsentRecord)).scalar_one() == 2
    with kehu.db.transaction() as s:  # an import updating the same archives again: the state is overwritten
        again, _ = basis.parse(s, {"purposes": ["contract"], "channel": "import"})
        assert basis.record_many(s, ctx, ids[:1], again) == 1
    with kehu.db.reader() as s:
        assert basis.allowed(s, ids, "contract") == set(ids) and basis.allowed(s, ids, "service") == set(ids)
        assert s.execute(select(func.count()).select_from(ConsentState)).scalar_one() == 6  # 2 × (2 + sensitive)
    with kehu.db.transaction() as s, pytest.raises(ValueError):
        basis.record_many(s, ctx, ids, basis.Basis(purposes=("service",), channel="import", notice_version="1.0",
                                                   guardian_name="某某"))


def test_purposes_and_notices_are_configurable(client, api, kehu, world):
    h = api("info")
    r = client.post("/api/v1/consent/purposes", json={"code": "research", "name": "产品研究"}, headers=h)
    assert r.status_code == 200, r.text
    assert client.post("/api/v1/consent/purposes", json={"code": "x", "name": "坏"}, headers=api("alice")).status_code == 403
    r = client.post("/api/v1/consent/notices", headers=h, json={
        "version": "2.0", "title": "客户个人信息保护告知书（第二版）", "text": "我们更新了告知书：新增产品研究目的，其余条款不变。" * 2})
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/consent/notices", headers=h, json={
        "version": "2.0", "title": "重复版本", "text": "正文" * 20}).status_code == 409
    data = customer_data()
    data["consent"]["purposes"] = ["research"]
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 201, r.text
    body = client.get(f"/api/v1/customers/{r.json()['archive_no']}/consent", headers=api("alice")).json()
    assert body["records"][0]["notice_version"] == "2.0"  # the notice in force by default


def test_parse_refuses_missing_consent_without_writing(kehu, world):
    from kehu.customers import service

    with kehu.db.transaction() as s, pytest.raises(ValidationFailed) as err:
        service.create(s, world.ctx("alice"), data=customer_row())
    assert {e.code: e.field for e in err.value.errors} == {"consent_required": "consent",
                                                           "sensitive_consent_required": "id_number"}
    assert _count(kehu, Customer) == 0
