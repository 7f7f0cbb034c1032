"""Level-1 values in plain text: only with a matching approval by a second person, used once."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from kehu.approvals.models import Approval
from kehu.db import utcnow
from kehu.exports.models import Export
from tests.exports.conftest import audit_rows, export, person, read_csv
from tests.fixtures.world import create_customer

BANK = "6222020200112233445"
FIELDS = ["archive_no", "name", "id_number", "bank_account"]


@pytest.fixture
def nos(kehu, world):
    alice = world.ctx("alice")
    return [create_customer(kehu, as_user=alice, bank_account=BANK, region="华东"),
            create_customer(kehu, as_user=alice, region="华北")]


def _ask(client, api, **body):
    body.setdefault("fields", FIELDS)
    r = export(client, api("info"), plaintext=True, **body)
    assert r.status_code == 202, r.text
    return r.json()


def _approve(client, api, approver, approval_id):
    r = client.post(f"/api/v1/approvals/{approval_id}/approve", json={"reason": "核对无误"}, headers=api(approver))
    assert r.status_code == 200, r.text


def test_plaintext_needs_an_approval_by_a_second_person(kehu, world, client, api, nos, info2):
    asked = _ask(client, api, filters={"region": "华东"})
    eid, aid = asked["export_id"], asked["approval"]["id"]
    assert asked["approval"]["payload"]["plaintext"] == ["customer.id_number", "customer.bank_account"]
    # not yet approved: nothing to download
    r = client.post(f"/api/v1/exports/{eid}/download", headers=api("info"))
    assert r.status_code == 403 and r.json()["code"] == "approval_pending"
    # the requester cannot approve it
    r = client.post(f"/api/v1/approvals/{aid}/approve", json={}, headers=api("info"))
    assert r.status_code == 403 and r.json()["code"] == "self_approval"
    _approve(client, api, info2, aid)
    r = client.post(f"/api/v1/exports/{eid}/download", headers=api("info"))
    assert r.status_code == 200, r.text
    _mark, header, rows = read_csv(r.content)
    assert [row[0] for row in rows] == [nos[0]] and rows[0][3] == BANK and "*" not in rows[0][2]
    # single use: neither the export nor the approval can be used again
    assert client.post(f"/api/v1/exports/{eid}/download", headers=api("info")).status_code == 409
    again = export(client, api("info"), fields=FIELDS, filters={"region": "华东"}, plaintext=True, approval_id=aid)
    assert again.status_code == 403 and again.json()["code"] == "approval_used"
    start = [r for r in audit_rows(kehu, "export.start") if r.outcome == "ok"][-1]
    assert aid in start.detail and "customer.bank_account" in start.detail
    assert [r.target_id for r in audit_rows(kehu, "approval.use")] == [aid]


def test_approval_for_other_filters_fields_or_purpose_is_refused(kehu, world, client, api, nos, info2):
    aid = _ask(client, api, filters={"region": "华东"})["approval"]["id"]
    _approve(client, api, info2, aid)
    for change in ({"fields": FIELDS[:3]}, {"filters": {"region": "华北"}}, {"purpose": "另一用途"},
                   {"q": "KH"}, {"sort": "name"}):
        body = {"fields": FIELDS, "filters": {"region": "华东"}, **change}
        r = export(client, api("info"), plaintext=True, approval_id=aid, **body)
        assert r.status_code == 403 and r.json()["code"] == "approval_mismatch", change
    r = export(client, api("info"), fields=FIELDS, filters={"region": "华东"}, plaintext=True, approval_id=aid)
    assert r.status_code == 200 and read_csv(r.content)[2][0][3] == BANK
    # the export that waited for this approval is the one that ran (no second record, nothing left waiting)
    mine = client.get("/api/v1/exports", headers=api("info")).json()["items"]
    assert [(e["status"], e["rows"]) for e in mine] == [("done", 1)]


def test_expired_approval_is_refused(kehu, world, client, api, nos, info2):
    asked = _ask(client, api)
    _approve(client, api, info2, asked["approval"]["id"])
    with kehu.db.transaction() as s:
        s.execute(update(Approval).where(Approval.id == asked["approval"]["id"]).values(expires_at=utcnow()))
    r = client.post(f"/api/v1/exports/{asked['export_id']}/download", headers=api("info"))
    assert r.status_code == 403 and r.json()["code"] == "approval_expired"


def test_rejected_request_never_produces_a_file(kehu, world, client, api, nos, info2):
    asked = _ask(client, api)
    r = client.post(f"/api/v1/approvals/{asked['approval']['id']}/reject", json={"reason": "范围过大"},
                    headers=api(info2))
    assert r.status_code == 200
    r = client.post(f"/api/v1/exports/{asked['export_id']}/download", headers=api("info"))
    assert r.status_code == 403 and r.json()["code"] == "approval_rejected"


def test_approver_without_level1_export_right_cannot_approve(kehu, world, client, api, nos):
    weak = person(kehu, world, username="weakapp", capabilities=["approve_export"],
                  grants=[(a, lvl) for a in ("view", "reveal") for lvl in (1, 2, 3)] + [("export", 2), ("export", 3)])
    asked = _ask(client, api)
    r = client.post(f"/api/v1/approvals/{asked['approval']['id']}/approve", json={}, headers=api(weak))
    assert r.status_code == 403 and r.json()["code"] == "approver_lacks_rights"


def test_plaintext_needs_reveal_at_level1_and_a_level1_field(kehu, world, client, api, nos):
    user = person(kehu, world, username="noreveal", capabilities=[],
                  grants=[(a, lvl) for a in ("view", "export") for lvl in (1, 2, 3)])
    r = export(client, api(user), fields=FIELDS, plaintext=True)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_plaintext"
    r = export(client, api("info"), fields=["archive_no", "name"], plaintext=True)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "plaintext"


def test_another_persons_approval_cannot_be_used(kehu, world, client, api, nos, info2):
    asked = _ask(client, api)
    _approve(client, api, info2, asked["approval"]["id"])
    r = client.post(f"/api/v1/exports/{asked['export_id']}/download", headers=api(info2))
    assert r.status_code == 404
    r = export(client, api(info2), fields=FIELDS, plaintext=True, approval_id=asked["approval"]["id"])
    assert r.status_code == 404


def test_search_text_is_sealed_while_waiting_and_erased_once_run(kehu, world, client, api, nos, info2):
    asked = _ask(client, api, q=nos[0])
    assert asked["approval"]["payload"]["search"] and nos[0] not in str(asked["approval"])
    with kehu.db.reader() as s:
        row = s.execute(select(Export.__table__).where(Export.id == asked["export_id"])).one()
    assert row.q_sealed and nos[0].encode() not in row.q_sealed and nos[0] not in row.criteria
    _approve(client, api, info2, asked["approval"]["id"])
    r = client.post(f"/api/v1/exports/{asked['export_id']}/download", headers=api("info"))
    assert [row[0] for row in read_csv(r.content)[2]] == [nos[0]]
    with kehu.db.reader() as s:
        row = s.execute(select(Export.__table__).where(Export.id == asked["export_id"])).one()
    assert row.q_sealed is None and row.q_key is None and row.status == "done" and row.row_count == 1
