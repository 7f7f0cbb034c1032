"""The security check report's figures against a scripted month of activity (page, API, Excel)."""
from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select, update

from kehu.audit.models import AuditEntry
from tests.supervision.conftest import set_rule

WRONG = "wrong-Password-1"


def period(clock, days_before: int = 1) -> dict:
    return {"since": (clock.now - timedelta(days=days_before)).isoformat(),
            "until": (clock.now + timedelta(days=1)).isoformat()}


def script(client, api, world, customers, clock) -> None:
    start = clock.now
    for no in customers[:3]:  # the department head reveals three ID numbers
        r = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["id_number"], "reason": "核对"},
                        headers=api("head"))
        assert r.status_code == 200
    for _ in range(2):
        client.post("/api/v1/auth/token", json={"username": "carol", "password": WRONG})
    for _ in range(5):  # bob is locked out after five failures
        client.post("/api/v1/auth/token", json={"username": "bob", "password": WRONG})
    r = client.patch("/api/v1/catalog/customer.occupation", json={"level": 1, "reason": "职业信息按敏感信息管理"},
                     headers=api("admin"))
    assert r.status_code == 200, r.text
    set_rule(client, api, "records_viewed", limit=1)
    clock.set(start + timedelta(days=40))  # a month later only alice works
    for no in customers[:2]:
        assert client.get(f"/api/v1/customers/{no}", headers=api("alice")).status_code == 200


def test_report_figures_match_the_scripted_activity(kehu, client, api, world, customers, clock, scanned):
    script(client, api, world, customers, clock)
    scanned()
    r = client.get("/api/v1/security-report", params=period(clock, days_before=45), headers=api("auditor"))
    assert r.status_code == 200, r.text
    rep = r.json()
    grants = {g["code"]: g for g in rep["grants"]}
    assert grants["staff"]["user_count"] == 4
    assert {u["username"] for u in grants["staff"]["users"]} == {"alice", "alan", "bob", "carol"}
    assert grants["staff"]["grants"]["reveal"] == [2, 3] and grants["dept_head"]["grants"]["reveal"] == [1, 2, 3]
    assert {"read_alerts", "manage_alarms", "read_audit"} <= set(grants["auditor"]["capabilities"])
    level1 = {i["username"]: i for i in rep["level1_access"]}
    assert level1["head"]["reveals"] == 3
    assert level1["head"]["fields"][0] == {"key": "customer.id_number", "label": "身份证号", "count": 3}
    assert level1["alice"]["reveals"] == 0 and level1["alice"]["reads"] == 2 + 5  # 5 creations, 2 reads
    assert {f["key"] for f in level1["alice"]["fields"]} >= {"customer.id_number", "customer.occupation"}
    assert "bob" not in level1
    dormant = {d["username"] for d in rep["dormant"]}
    assert "alice" not in dormant and {"alan", "bob", "carol", "info"} <= dormant
    [change] = rep["catalog_changes"]["changes"]
    assert (change["by"], change["target"]) == ("admin", "customer.occupation")
    assert rep["catalog_changes"]["overrides"][0]["key"] == "customer.occupation"
    failed = {f["username"]: f["count"] for f in rep["logins"]["failed"]}
    assert failed == {"carol": 2, "bob": 5}
    assert rep["logins"]["lockouts"] == [{"username": "bob", "count": 1}]
    assert {a["rule"] for a in rep["alerts"]["open"]} >= {"records_viewed", "dormant_active"}
    assert rep["chain"]["ok"] is True and rep["chain"]["checked"] > 20

    xlsx = client.get("/api/v1/security-report.xlsx", params=period(clock, days_before=45), headers=api("auditor"))
    wb = load_workbook(io.BytesIO(xlsx.content))
    rows = {row[0]: row for row in wb["一级信息访问"].iter_rows(min_row=2, values_only=True)}
    assert rows["head"][1] == 3 and "身份证号×3" in rows["head"][4]
    sheet = {row[0] for row in wb["长期未用账户"].iter_rows(min_row=2, values_only=True)}
    assert sheet == dormant - {"auditor"}  # the auditor was active: the first report is audited
    assert dict((r[0], r[1]) for r in wb["登录失败与锁定"].iter_rows(min_row=2, values_only=True)) == failed
    assert wb["概要"]["B5"].value == "完整"
    with kehu.db.reader() as s:
        assert s.execute(select(AuditEntry.actor_name).where(AuditEntry.action == "supervision.report",
                                                             AuditEntry.outcome == "ok")).scalars().all() == \
            ["auditor", "auditor"]


def test_period_limits_the_figures(client, api, world, customers, clock):
    script(client, api, world, customers, clock)
    rep = client.get("/api/v1/security-report", params=period(clock), headers=api("auditor")).json()
    assert [i["username"] for i in rep["level1_access"]] == ["alice"]  # only the last day's reads
    assert rep["logins"]["failed"] == [] and rep["catalog_changes"]["changes"] == []
    r = client.get("/api/v1/security-report", params={"since": period(clock)["until"], "until": period(clock)["since"]},
                   headers=api("auditor"))
    assert r.status_code == 422


def test_report_shows_a_broken_chain(kehu, client, api, world, customers, clock):
    with kehu.db.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(reason="改过"))
    rep = client.get("/api/v1/security-report", params=period(clock), headers=api("auditor")).json()
    assert rep["chain"]["ok"] is False and rep["chain"]["first_bad_seq"] == 2


def test_cli_writes_the_workbook(kehu, world, customers, clock, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from kehu.cli import app

    monkeypatch.setattr("kehu.cli.runtime", lambda: kehu)
    out = tmp_path / "check.xlsx"
    day = (clock.now + timedelta(hours=8)).date().isoformat()
    result = CliRunner().invoke(app, ["alarms", "report", "--user", "auditor", "--since", day, "--until", day,
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_workbook(out)["概要"]["B5"].value == "完整"
    result = CliRunner().invoke(app, ["alarms", "report", "--user", "alice", "--since", day, "--until", day,
                                      "--out", str(out)])
    assert result.exit_code == 1
    result = CliRunner().invoke(app, ["alarms", "scan"])
    assert result.exit_code == 0 and "已检查" in result.output
