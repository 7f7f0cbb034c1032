"""The audit trail: what is recorded, and that any tampering is detected and located."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from kehu.audit.chain import verify
from kehu.customers import service
from tests.fixtures.world import create_customer, customer_data


def _entries(kehu):
    with kehu.db.reader() as s:
        return [dict(r._mapping) for r in s.execute(text("SELECT * FROM audit_log ORDER BY seq"))]


def _verify(kehu):
    with kehu.db.reader() as s:
        return verify(s, kehu.audit)


@pytest.fixture
def busy(kehu, world, client, api):
    """A log with logins, failures, reads, reveals, changes and denials."""
    no = create_customer(kehu, as_user=world.ctx("alice"))
    client.post("/api/v1/auth/token", json={"username": "alice", "password": "wrong-password"})
    h = api("alice")
    client.get(f"/api/v1/customers/{no}", headers=h)
    client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["mobile"], "reason": "回访核对"}, headers=h)
    client.patch(f"/api/v1/customers/{no}", json={"industry": "教育", "reason": "更正"}, headers=h)
    client.get(f"/api/v1/customers/{no}", headers=api("bob"))  # out of scope → denied
    client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["id_number"], "reason": "看看"}, headers=h)
    return no


def test_events_are_recorded_without_values(kehu, busy):
    entries = _entries(kehu)
    actions = [(e["action"], e["outcome"]) for e in entries]
    for expected in [("auth.login", "failed"), ("auth.login", "ok"), ("customer.read", "ok"),
                     ("customer.reveal", "ok"), ("customer.update", "ok"), ("customer.read", "denied"),
                     ("customer.reveal", "denied"), ("customer.create", "ok")]:
        assert expected in actions, expected
    reveal = next(e for e in entries if e["action"] == "customer.reveal" and e["outcome"] == "ok")
    assert reveal["reason"] == "回访核对" and reveal["fields"] == "customer.mobile" and reveal["customer_no"] == busy
    read = next(e for e in entries if e["action"] == "customer.read" and e["outcome"] == "ok")
    assert "customer.id_number" in read["fields"] and "customer.mobile" in read["fields"]
    dump = json.dumps(entries, default=str, ensure_ascii=False)
    with kehu.db.reader() as s:
        from kehu.audit.models import AuditEntry

        assert all(e.ts.utcoffset().total_seconds() == 0 for e in s.query(AuditEntry))
    mobile = customer_data()["mobile"][:3]  # values never appear, only field names
    assert not any(mobile in str(e["detail"]) for e in entries if e["detail"])
    assert "wrong-password" not in dump
    assert _verify(kehu).ok


def test_edit_detected(kehu, busy):
    with kehu.db.transaction() as s:
        s.execute(text("UPDATE audit_log SET reason = '无' WHERE seq = 5"))
    r = _verify(kehu)
    assert not r.ok and r.first_bad_seq == 5


def test_delete_in_middle_detected(kehu, busy):
    with kehu.db.transaction() as s:
        s.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    r = _verify(kehu)
    assert not r.ok and r.first_bad_seq == 4


def test_reorder_detected(kehu, busy):
    with kehu.db.transaction() as s:
        a = s.execute(text("SELECT action, actor_name FROM audit_log WHERE seq = 3")).one()
        b = s.execute(text("SELECT action, actor_name FROM audit_log WHERE seq = 6")).one()
        s.execute(text("UPDATE audit_log SET action=:a, actor_name=:n WHERE seq=6"), {"a": a[0], "n": a[1]})
        s.execute(text("UPDATE audit_log SET action=:a, actor_name=:n WHERE seq=3"), {"a": b[0], "n": b[1]})
    r = _verify(kehu)
    assert not r.ok and r.first_bad_seq == 3


def test_swapping_whole_rows_detected(kehu, busy):
    """Moving entire rows (with their MACs) to other positions breaks the chain links."""
    with kehu.db.transaction() as s:
        s.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = 3"))
        s.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 4"))
        s.execute(text("UPDATE audit_log SET seq = 4 WHERE seq = -1"))
    r = _verify(kehu)
    assert not r.ok and r.first_bad_seq == 3


def test_truncation_detected(kehu, busy):
    n = len(_entries(kehu))
    with kehu.db.transaction() as s:
        s.execute(text("DELETE FROM audit_log WHERE seq > :k"), {"k": n - 2})
    r = _verify(kehu)
    assert not r.ok and r.first_bad_seq == n - 1


def test_truncation_with_forged_head_detected(kehu, busy):
    """Rewinding the head without the audit key fails its seal."""
    n = len(_entries(kehu))
    with kehu.db.transaction() as s:
        prev = s.execute(text("SELECT mac FROM audit_log WHERE seq = :k"), {"k": n - 2}).scalar()
        s.execute(text("DELETE FROM audit_log WHERE seq > :k"), {"k": n - 2})
        s.execute(text("UPDATE audit_head SET seq = :k, mac = :m"), {"k": n - 2, "m": prev})
    r = _verify(kehu)
    assert not r.ok and "签名" in r.problem


def test_recomputed_chain_without_key_detected(kehu, busy):
    """An attacker recomputing plain SHA-256 links cannot produce valid HMACs."""
    import hashlib

    with kehu.db.transaction() as s:
        s.execute(text("UPDATE audit_log SET reason = 'x', mac = :m WHERE seq = 2"),
                  {"m": hashlib.sha256(b"forged").hexdigest()})
    r = _verify(kehu)
    assert not r.ok and r.first_bad_seq == 2


def test_cli_verify_names_first_bad_entry(kehu, busy, monkeypatch, db_url):
    from typer.testing import CliRunner

    from kehu.cli import app
    from kehu.config import get_settings

    monkeypatch.setenv("KEHU_DATABASE_URL", db_url)
    monkeypatch.setenv("KEHU_KEYS", kehu.keys.to_json())
    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0, ok.output
        with kehu.db.transaction() as s:
            s.execute(text("UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 7"))
        bad = CliRunner().invoke(app, ["audit", "verify"])
        assert bad.exit_code == 1 and "#7" in bad.output
    finally:
        get_settings.cache_clear()


def test_audit_api_for_auditor_only(client, api, busy):
    r = client.get("/api/v1/audit", params={"customer_no": busy}, headers=api("auditor"))
    assert r.status_code == 200 and all(i["customer_no"] == busy for i in r.json()["items"])
    assert client.get("/api/v1/audit/verify", headers=api("auditor")).json()["ok"] is True
    for user in ("alice", "admin", "info", "head"):
        assert client.get("/api/v1/audit", headers=api(user)).status_code == 403


def test_audit_entry_commits_with_the_change(kehu, world):
    """A failed operation leaves neither the change nor its audit entry."""
    from kehu.errors import ValidationFailed

    before = len(_entries(kehu))
    with pytest.raises(ValidationFailed), kehu.db.transaction() as s:
        service.create(s, world.ctx("alice"), data=customer_data(mobile="123"), reason="x")
    assert len(_entries(kehu)) == before
