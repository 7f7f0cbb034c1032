"""Segments: saved filters over tags, grades and aggregates; export leaves out customers without consent."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from kehu.errors import Forbidden
from kehu.tags import engine, segments
from tests.fixtures.world import create_customer
from tests.tags.conftest import AS_OF, add_order, customer_id


@pytest.fixture
def buyers(kehu, world):
    info = world.ctx("info")
    nos = [create_customer(kehu, as_user=info, id_number=None) for _ in range(5)]
    for i, no in enumerate(nos):
        add_order(kehu, customer_id(kehu, no), on=AS_OF - timedelta(days=3 + i), amount=1000 * (i + 1))
    create_customer(kehu, as_user=info, id_number=None)  # never bought
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=AS_OF)
    return nos


def test_members_and_count(kehu, world, buyers):
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        seg = segments.save(s, info, data={"name": "活跃买家", "expression": 'has_tag("active") and grade in ["A", "B", "C"]'})
    with kehu.db.reader() as s:
        got = segments.members(s, info, segment_id=seg["id"])
    assert got["count"] == 5 and {m["archive_no"] for m in got["members"]} == set(buyers)


def _give_marketing_consent(client, api, no: str) -> None:
    r = client.post(f"/api/v1/customers/{no}/consent", json={"purposes": ["marketing"], "channel": "phone"},
                    headers=api("info"))
    assert r.status_code == 201, r.text


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_export_is_an_ordinary_export_without_the_non_consenting_and_says_how_many(client, api, kehu, world, buyers):
    with kehu.db.transaction() as s:
        seg = segments.save(s, world.ctx("info"), data={"name": "全部买家", "expression": "count(orders) >= 1"})
    for no in buyers[:2]:
        _give_marketing_consent(client, api, no)
    r = client.post(f"/api/v1/segments/{seg['id']}/export", headers=api("info"),
                    json={"purpose": "春季新品推介", "use": "marketing", "format": "csv", "fields": ["archive_no", "name"]})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and "attachment" in r.headers["content-disposition"]
    watermark, header, *rows, footer = _csv(r.content)
    assert watermark[0].startswith("导出水印") and "春季新品推介" in watermark[0]
    assert header == ["档案编号", "姓名/名称"]
    assert {row[0] for row in rows} == set(buyers[:2])
    assert footer == ["另有 3 位客户因没有「营销推广」用途的同意记录（或已撤回）未导出"]
    done = client.get(f"/api/v1/exports/{r.headers['x-export-id']}", headers=api("info")).json()
    assert done["rows"] == 2 and done["excluded"] == 3
    assert done["criteria"]["filters"] == {"segment": seg["id"]}


def test_segment_is_a_list_filter_for_its_owner_only(client, api, kehu, world, buyers):
    with kehu.db.transaction() as s:
        seg = segments.save(s, world.ctx("info"), data={"name": "买家", "expression": "count(orders) >= 1"})
    r = client.get("/api/v1/customers", params={"segment": seg["id"], "limit": 100}, headers=api("info"))
    assert r.status_code == 200, r.text
    assert {c["archive_no"] for c in r.json()["items"]} == set(buyers)
    r = client.get("/api/v1/customers", params={"segment": seg["id"]}, headers=api("head"))  # not head's segment
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_segment"
    r = client.post(f"/api/v1/segments/{seg['id']}/export", headers=api("head"),
                    json={"purpose": "春季新品推介", "use": "marketing"})
    assert r.status_code == 404


def test_export_needs_the_export_right(kehu, world, buyers):
    alice = world.ctx("alice")  # staff: no export grant
    with kehu.db.transaction() as s:
        seg = segments.save(s, alice, data={"name": "我的买家", "expression": "count(orders) >= 1"})
    with kehu.db.transaction() as s, pytest.raises(Forbidden):
        segments.export(s, alice, segment_id=seg["id"], purpose="春季新品推介")


def test_a_plaintext_segment_export_asks_approval_naming_the_segment(kehu, world, buyers):
    from kehu.exports import service as exports

    info = world.ctx("info")
    with kehu.db.transaction() as s:
        seg = segments.save(s, info, data={"name": "全部买家", "expression": "count(orders) >= 1"})
    with kehu.db.transaction() as s:
        outcome = exports.start(s, info, filters={"segment": seg["id"]}, fields=["archive_no", "id_number"],
                                plaintext=True, purpose="合同核对", use="service")
    assert outcome.plan is None  # waits for a second person
    assert "客户分群=全部买家（count(orders) >= 1）" in outcome.approval["summary"]


def test_names_are_unique_per_owner_and_a_rename_onto_another_is_refused(client, api, kehu, world):
    rule = {"expression": 'has_tag("active")'}
    mine = client.post("/api/v1/segments", json={"name": "重点客户", **rule}, headers=api("alice"))
    theirs = client.post("/api/v1/segments", json={"name": "重点客户", **rule}, headers=api("bob"))
    assert mine.status_code == 201 and theirs.status_code == 201  # another user's name is none of mine
    again = client.post("/api/v1/segments", json={"name": " 重点客户 ", **rule}, headers=api("alice"))
    assert again.status_code == 422 and again.json()["errors"] == [
        {"field": "name", "code": "duplicate", "message": "您已有同名的分群"}]
    other = client.post("/api/v1/segments", json={"name": "沉睡客户", **rule}, headers=api("alice")).json()
    clash = client.put(f"/api/v1/segments/{other['id']}", json={"name": "重点客户", **rule}, headers=api("alice"))
    assert clash.status_code == 422 and clash.json()["errors"][0]["code"] == "duplicate"  # was a 500 (unique index)
    same = client.put(f"/api/v1/segments/{other['id']}", json={"name": "沉睡客户", "description": "半年未购",
                                                                 **rule}, headers=api("alice"))
    assert same.status_code == 200 and same.json()["description"] == "半年未购"  # keeping its own name is fine
    assert [s["name"] for s in client.get("/api/v1/segments", headers=api("alice")).json()] == ["沉睡客户", "重点客户"]


def test_delete_only_ones_own_segment(client, api, kehu, world):
    seg = client.post("/api/v1/segments", json={"name": "试用", "expression": 'has_tag("active")'},
                      headers=api("alice")).json()
    assert client.delete(f"/api/v1/segments/{seg['id']}", headers=api("bob")).status_code == 404  # not hers
    assert client.delete(f"/api/v1/segments/{seg['id']}", headers=api("alice")).status_code == 204
    assert client.get(f"/api/v1/segments/{seg['id']}/members", headers=api("alice")).status_code == 404
    assert client.delete(f"/api/v1/segments/{seg['id']}", headers=api("alice")).status_code == 404
    r = client.get("/api/v1/customers", params={"segment": seg["id"]}, headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_segment"
    from sqlalchemy import select

    from kehu.audit.models import AuditEntry
    with kehu.db.reader() as s:
        rows = s.execute(select(AuditEntry.outcome, AuditEntry.target_id)
                         .where(AuditEntry.action == "segment.delete").order_by(AuditEntry.seq)).all()
    assert [tuple(r) for r in rows if r[0] == "ok"] == [("ok", seg["id"])]  # bob's and the second try: denied
    assert len(rows) == 3
