"""Smoke test of the archive API."""
from tests.fixtures.world import customer_data


def test_create_read_update(client, api):
    r = client.post("/api/v1/customers", json=customer_data(), headers=api("alice"))
    assert r.status_code == 201, r.text
    no = r.json()["archive_no"]
    r = client.get(f"/api/v1/customers/{no}", headers=api("alice"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "id_number" in body["_masked"]
    assert r.headers["cache-control"] == "no-store"
    r = client.patch(f"/api/v1/customers/{no}", json={"mobile": "13912345678", "reason": "客户换号"},
                     headers=api("alice"))
    assert r.status_code == 200, r.text
    h = client.get(f"/api/v1/customers/{no}/history", headers=api("alice")).json()
    assert any(i["field"] == "mobile" and i["op"] == "update" for i in h["items"])
