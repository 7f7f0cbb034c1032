"""The privacy JSON API: the request register through to the copy and the deletion, as real HTTP calls."""
from __future__ import annotations

import json


def test_request_copy_and_deletion_over_http(client, api, world, info2, rich):
    h = api("info")
    r = client.post("/api/v1/privacy/requests", headers=h,
                    json={"customer_no": rich.archive_no, "kind": "copy", "received_on": "2026-03-02"})
    assert r.status_code == 201, r.text
    no = r.json()["request_no"]
    assert r.json()["due_on"] == "2026-03-23"
    assert client.get(f"/api/v1/privacy/requests/{no}/copy", headers=h).status_code == 409  # not verified
    assert client.post(f"/api/v1/privacy/requests/{no}/verify", headers=h, json={"method": "id_document"}).status_code == 200
    r = client.get(f"/api/v1/privacy/requests/{no}/copy", headers=h)
    assert r.status_code == 200 and json.loads(r.content)["customer_no"] == rich.archive_no
    x = client.get(f"/api/v1/privacy/requests/{no}/copy?format=xlsx", headers=h)
    assert x.status_code == 200 and x.content[:2] == b"PK"
    # deletion: request → approval by the second person → execution → 404
    d = client.post("/api/v1/privacy/destructions", headers=h, json={"customer_no": rich.archive_no, "reason": "客户要求删除"})
    assert d.status_code == 201, d.text
    d = d.json()
    assert client.post(f"/api/v1/privacy/destructions/{d['id']}/execute", headers=h).status_code == 403
    assert client.post(f"/api/v1/approvals/{d['approval_id']}/approve", headers=api("info2"), json={}).status_code == 200
    assert client.post(f"/api/v1/privacy/destructions/{d['id']}/execute", headers=h).status_code == 200
    assert client.get(f"/api/v1/customers/{rich.archive_no}", headers=h).status_code == 404
    done = client.get("/api/v1/privacy/destructions", headers=api("info2")).json()[0]
    assert done["status"] == "executed" and done["approved_by"] == "Info2"


def test_no_capability_no_register(client, api, world):
    assert client.get("/api/v1/privacy/requests", headers=api("alice")).status_code == 403
    assert client.get("/api/v1/privacy/retention", headers=api("alice")).status_code == 403
    assert client.get("/api/v1/privacy/requests", headers={}).status_code == 401


def test_bad_input_names_every_field(client, api, world):
    r = client.post("/api/v1/privacy/shares", headers=api("info"), json={
        "recipient": "", "purpose": "", "fields": [], "customer_nos": [], "legal_basis": "x", "agreement_ref": "",
        "expires_on": "2020-01-01"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"recipient", "purpose", "fields", "customer_nos", "legal_basis",
                                                        "agreement_ref", "expires_on"}
