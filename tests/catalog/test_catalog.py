"""The field catalogue: every column declared, default levels per SPEC §2, administration."""
from __future__ import annotations

from kehu.catalog.registry import declared, undeclared_columns


def test_every_column_is_declared():
    assert undeclared_columns() == []


def test_default_levels():
    cat = declared()
    level1 = {"customer.id_number", "customer.bank_account", "customer.bank_name", "customer.credit_rating",
              "customer.annual_income", "customer.allergies", "customer.geo_location"}
    for key in level1:
        spec = cat[key]
        assert spec.level == 1 and spec.encrypted and spec.mask != "none", key
    for key in ("customer.mobile", "customer.email", "customer.landline", "customer.street", "contact.mobile",
                "customer.room_preference", "customer.cooperation_history"):
        assert cat[key].level == 2, key
    for key in ("customer.uscc", "customer.industry", "customer.main_business", "customer.registered_capital"):
        assert cat[key].level == 3, key
    assert {s.blind_index for s in cat.values() if s.blind_index} == {"mobile", "id_number", "email"}
    assert all(s.encrypted for s in cat.values() if s.level == 1)
    assert all(s.encrypted for s in cat.values() if s.blind_index)


def test_catalogue_listing_admin_only(client, api):
    r = client.get("/api/v1/catalog", headers=api("admin"))
    assert r.status_code == 200
    row = next(f for f in r.json() if f["key"] == "customer.id_number")
    assert row["level"] == 1 and row["encrypted"] and row["blind_index"] and row["category_name"] == "个人身份"
    for user in ("alice", "info", "auditor"):
        assert client.get("/api/v1/catalog", headers=api(user)).status_code == 403


def test_raise_level_takes_effect_on_next_request(kehu, world, client, api):
    from tests.fixtures.world import create_customer

    no = create_customer(kehu, as_user=world.ctx("alice"), occupation="外科医生")
    assert client.get(f"/api/v1/customers/{no}", headers=api("alice")).json()["occupation"] == "外科医生"
    r = client.patch("/api/v1/catalog/customer.occupation", json={"level": 1, "mask": "all", "reason": "职业涉及隐私"},
                     headers=api("admin"))
    assert r.status_code == 200, r.text
    body = client.get(f"/api/v1/customers/{no}", headers=api("alice")).json()
    assert body["occupation"] == "******" and "occupation" in body["_masked"]
    r = client.patch(f"/api/v1/customers/{no}", json={"occupation": "律师", "reason": "更正"}, headers=api("alice"))
    assert r.status_code == 403  # staff holds modify@2, not modify@1


def test_lowering_a_level_is_refused(client, api):
    r = client.patch("/api/v1/catalog/customer.id_number", json={"level": 3, "reason": "试试"}, headers=api("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "level_lowering"
    r = client.patch("/api/v1/catalog/customer.nope", json={"level": 1, "reason": "试试"}, headers=api("admin"))
    assert r.status_code == 404
    r = client.patch("/api/v1/catalog/customer.mobile", json={"level": 1, "reason": "试试"}, headers=api("info"))
    assert r.status_code == 403
