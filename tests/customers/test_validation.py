"""Bad input: 422 naming every failing field with a stable code and a Chinese message; nothing written."""
from __future__ import annotations

import pytest
from stdnum.cn import ric
from sqlalchemy import func, select

from kehu.audit.models import AuditEntry
from kehu.customers.models import Customer, History
from tests.fixtures.world import customer_data, id_number

CASES = [
    ({"id_number": "110105198001010012"}, "id_number", "id_checksum"),
    ({"id_number": "1101051980"}, "id_number", "id_length"),
    ({"id_number": "11010519801345001" + ric.calc_check_digit("110105198013450010")}, "id_number", "id_birth_date"),
    ({"id_number": id_number(5, born=__import__("datetime").date(1990, 5, 6)), "birth_date": "1991-05-06"},
     "birth_date", "id_birth_mismatch"),
    ({"mobile": "12345"}, "mobile", "mobile_invalid"),
    ({"mobile": "010-62345678"}, "mobile", "mobile_not_mobile"),
    ({"landline": "13912345678"}, "landline", "phone_is_mobile"),
    ({"email": "not-an-email"}, "email", "email_invalid"),
    ({"birth_date": "2990-01-01"}, "birth_date", "date_in_future"),
    ({"birth_date": "1990-02-30"}, "birth_date", "date_invalid"),
    ({"gender": "X"}, "gender", "invalid_choice"),
    ({"name": ""}, "name", "required"),
    ({"name": "张" * 101}, "name", "too_long"),
    ({"postcode": "12345"}, "postcode", "postcode_invalid"),
    ({"mobile": None, "landline": None}, "mobile", "phone_required"),
    ({"street": None}, "street", "required"),
    ({"importance": "key", "email": None}, "email", "required_for_key"),
    ({"uscc": "91110000600037341L"}, "uscc", "organisation_only"),
    ({"no_such_field": "x"}, "no_such_field", "extra_forbidden"),
    ({"kind": "alien", "gender": "M"}, "kind", "invalid_choice"),
]


def _counts(kehu):
    with kehu.db.reader() as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar() for t in (Customer, History, AuditEntry))


@pytest.mark.parametrize("change,field,code", CASES, ids=[c[2] + "-" + c[1] for c in CASES])
def test_bad_input_422_nothing_written(kehu, client, api, change, field, code):
    h = api("alice")
    before = _counts(kehu)
    data = customer_data()
    data.update(change)
    r = client.post("/api/v1/customers", json=data, headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed"
    hit = [e for e in body["errors"] if e["field"] == field]
    assert hit and hit[0]["code"] == code, body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in hit[0]["message"])  # Chinese message
    assert _counts(kehu) == before


def test_every_failing_field_is_named(client, api):
    r = client.post("/api/v1/customers", json=customer_data(mobile="1", email="x@", id_number="123",
                                                             birth_date="someday", gender="?"), headers=api("alice"))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"mobile", "email", "id_number", "birth_date", "gender"}


def test_children_errors_are_named_with_their_position(client, api):
    data = customer_data(kind="organisation")
    data["contacts"] = [{"name": "王经理", "mobile": "13800138000"}, {"name": "", "email": "bad"}]
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"contacts[1].name", "contacts[1].email"} <= fields


def test_update_with_bad_input_changes_nothing(kehu, client, api):
    h = api("alice")
    no = client.post("/api/v1/customers", json=customer_data(), headers=h).json()["archive_no"]
    before = client.get(f"/api/v1/customers/{no}", headers=h).json()
    r = client.patch(f"/api/v1/customers/{no}", json={"industry": "医疗", "email": "bad", "reason": "更新"},
                     headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "email"
    after = client.get(f"/api/v1/customers/{no}", headers=h).json()
    assert after["industry"] == before["industry"] and after["version"] == before["version"]
    r = client.patch(f"/api/v1/customers/{no}", json={"industry": "医疗"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "reason_required"


def test_normalisation(client, api, kehu, world):
    h = api("info")
    data = customer_data(mobile="+86 １３９ ０００１ ２３４５", landline="(010) 6234 5678", email="Zhang.San@EXAMPLE.COM",
                         id_number=id_number(42).lower().replace("x", "x"), name="  张　三  ", birth_date="１９９０年５月６日")
    data["id_number"] = id_number(42, born=__import__("datetime").date(1990, 5, 6))
    r = client.post("/api/v1/customers", json=data, headers=h)
    assert r.status_code == 201, r.text
    no = r.json()["archive_no"]
    plain = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["mobile", "landline", "email"],
                                                                 "reason": "核对"}, headers=h).json()["values"]
    assert plain == {"mobile": "13900012345", "landline": "010-62345678", "email": "Zhang.San@example.com"}
    body = client.get(f"/api/v1/customers/{no}", headers=h).json()
    assert body["name"] == "张 三" and body["birth_date"] == "1990-05-06"
    # the normalised mobile is what the blind index finds
    found = client.get("/api/v1/customers", params={"q": "139 0001 2345"}, headers=h).json()["items"]
    assert [i["archive_no"] for i in found] == [no]


def test_format_and_rule_errors_reported_together(client, api):
    """A malformed field does not hide the archive rules: every problem is listed in one answer."""
    data = customer_data(email="bad@", street=None)
    r = client.post("/api/v1/customers", json=data, headers=api("alice"))
    assert r.status_code == 422
    codes = {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert {("email", "email_invalid"), ("street", "required")} <= codes
    # a malformed mobile is not also reported as "phone required"
    r = client.post("/api/v1/customers", json=customer_data(mobile="123", landline=None), headers=api("alice"))
    assert [e["code"] for e in r.json()["errors"]] == ["mobile_invalid"]


def test_booleans_are_not_numbers(client, api):
    r = client.post("/api/v1/customers", json=customer_data(kind="organisation", headcount=True), headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "headcount", "code": "invalid_type", "message": "“员工人数”的值类型错误"}
