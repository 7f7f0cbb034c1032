"""Alert handling (acknowledge → close with a note, audited), automatic lock, rights and the web pages."""
from __future__ import annotations

from sqlalchemy import select

from kehu.access import service as access
from kehu.audit.models import AuditEntry
from tests.supervision.conftest import alerts, set_rule


def web_session(kehu, client, world, username: str) -> str:
    """Sign `username` in for web pages on this client; returns the CSRF token."""
    with kehu.db.transaction() as s:
        result = access.login(s, kehu=kehu, username=username, password=world.password, ip="127.0.0.1", kind="web")
    client.cookies.set("kehu_session", result.token)
    return result.csrf


def raise_alert(client, api, customers, scanned, **rule) -> dict:
    set_rule(client, api, "records_viewed", limit=2, **rule)
    for no in customers[:3]:
        client.get(f"/api/v1/customers/{no}", headers=api("alice"))
    scanned()
    [alert] = alerts(client, api, rule="records_viewed")
    return alert


def test_acknowledge_then_close_with_a_note_each_step_audited(kehu, client, api, customers, clock, scanned):
    alert = raise_alert(client, api, customers, scanned)
    url = f"/api/v1/alerts/{alert['id']}"
    r = client.post(url + "/close", json={"note": "  "}, headers=api("auditor"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = client.post(url + "/acknowledge", json={"note": "正在核实"}, headers=api("auditor"))
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert client.post(url + "/acknowledge", json={}, headers=api("auditor")).status_code == 409
    r = client.post(url + "/close", json={"note": "客户经理核对名单，属正常工作"}, headers=api("auditor"))
    assert (r.json()["status"], r.json()["closed_by"], r.json()["close_note"]) == ("closed", "auditor",
                                                                                  "客户经理核对名单，属正常工作")
    assert client.post(url + "/close", json={"note": "再次"}, headers=api("auditor")).status_code == 409
    assert alerts(client, api, status="open") == []
    with kehu.db.reader() as s:
        steps = s.execute(select(AuditEntry.action, AuditEntry.reason, AuditEntry.actor_name)
                          .where(AuditEntry.target_id == alert["id"], AuditEntry.outcome == "ok")
                          .order_by(AuditEntry.seq)).all()
    assert [tuple(x) for x in steps if x[0] != "alarm.read"] == [
        ("alarm.acknowledge", "正在核实", "auditor"), ("alarm.close", "客户经理核对名单，属正常工作", "auditor")]


def test_a_closed_alert_stays_closed_when_the_window_goes_on(client, api, customers, clock, scanned):
    alert = raise_alert(client, api, customers, scanned)
    client.post(f"/api/v1/alerts/{alert['id']}/close", json={"note": "已核实"}, headers=api("auditor"))
    client.get(f"/api/v1/customers/{customers[4]}", headers=api("alice"))
    scanned()
    [again] = alerts(client, api, rule="records_viewed")
    assert (again["id"], again["status"], again["count"]) == (alert["id"], "closed", 3)


def test_automatic_lock_takes_effect_on_the_next_request(kehu, client, api, world, customers, clock, scanned):
    headers = api("alice")
    alert = raise_alert(client, api, customers, scanned, lock=True)
    assert alert["locked"] is True
    assert client.get("/api/v1/customers", headers=headers).status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": "alice", "password": world.password})
    assert r.status_code == 401 and r.json()["code"] == "account_locked"
    with kehu.db.reader() as s:
        target, detail = s.execute(select(AuditEntry.target_id, AuditEntry.detail)
                                   .where(AuditEntry.action == "admin.user.lock")).one()
    assert target == world.users["alice"] and alert["id"] in detail
    r = client.patch(f"/api/v1/users/{world.users['alice']}", json={"unlock": True}, headers=api("admin"))
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/auth/token", json={"username": "alice", "password": world.password})
    assert r.status_code == 200
    scanned(start=0)  # re-scanning never locks again for the same alert
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
                      ).status_code == 200


def test_rule_changes_need_manage_alarms_and_are_validated(kehu, client, api, clock):
    body = {"enabled": True, "limit": 5, "window_minutes": 60, "lock": False}
    assert client.put("/api/v1/alarm-rules/records_viewed", json=body, headers=api("admin")).status_code == 403
    assert client.put("/api/v1/alarm-rules/nope", json=body, headers=api("auditor")).status_code == 404
    r = client.put("/api/v1/alarm-rules/off_hours", headers=api("auditor"), json=body | {
        "limit": -1, "window_minutes": 0,
        "params": {"start": "25:00", "end": "08:00", "weekend": [8], "holidays": ["2026-13-01"]}})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"limit", "window_minutes", "start", "weekend", "holidays"}
    rules = {x["code"]: x for x in client.get("/api/v1/alarm-rules", headers=api("auditor")).json()["items"]}
    assert rules["off_hours"]["params"]["start"] == "08:00" and rules["off_hours"]["limit"] == 0
    r = client.put("/api/v1/alarm-rules/records_viewed", json=body, headers=api("auditor"))
    assert r.status_code == 200
    with kehu.db.reader() as s:
        target, detail = s.execute(select(AuditEntry.target_id, AuditEntry.detail)
                                   .where(AuditEntry.action == "alarm.rule.update", AuditEntry.outcome == "ok")).one()
    assert target == "records_viewed" and '"limit": [200, 5]' in detail


def test_staff_and_admin_cannot_see_alerts(client, api, customers, clock, scanned):
    alert = raise_alert(client, api, customers, scanned)
    for user in ("alice", "admin", "head"):
        assert client.get("/api/v1/alerts", headers=api(user)).status_code == 403
        assert client.get(f"/api/v1/alerts/{alert['id']}", headers=api(user)).status_code == 403
        assert client.post(f"/api/v1/alerts/{alert['id']}/close", json={"note": "x"},
                           headers=api(user)).status_code == 403
        assert client.post("/api/v1/alarms/scan", headers=api(user)).status_code == 403
        assert client.get("/api/v1/security-report", params={"since": "2026-01-01T00:00:00",
                                                             "until": "2026-02-01T00:00:00"},
                          headers=api(user)).status_code == 403
    assert client.get("/api/v1/alerts/nope", headers=api("auditor")).status_code == 404


def test_web_pages_for_the_auditor(kehu, client, api, world, customers, clock, scanned):
    alert = raise_alert(client, api, customers, scanned)
    csrf = web_session(kehu, client, world, "auditor")
    page = client.get("/supervision/alerts")
    assert page.status_code == 200 and alert["id"] in page.text
    assert 'href="/supervision/alerts"' in page.text and 'href="/supervision/report"' in page.text
    detail = client.get(f"/supervision/alerts/{alert['id']}")
    assert detail.status_code == 200 and customers[0] in detail.text
    r = client.post(f"/supervision/alerts/{alert['id']}/close", data={"note": ""}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    r = client.post(f"/supervision/alerts/{alert['id']}/close", data={"note": "", "csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 422
    r = client.post(f"/supervision/alerts/{alert['id']}/close", data={"note": "已核实", "csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=api("auditor")).json()["status"] == "closed"
    rules = client.get("/supervision/rules")
    assert rules.status_code == 200 and 'name="limit"' in rules.text
    r = client.post("/supervision/rules/denied_attempts", follow_redirects=False, data={
        "csrf": csrf, "enabled": "on", "limit": "7", "window_minutes": "30", "lock": "on"})
    assert r.status_code == 303
    saved = {x["code"]: x for x in client.get("/api/v1/alarm-rules", headers=api("auditor")).json()["items"]}
    assert (saved["denied_attempts"]["limit"], saved["denied_attempts"]["window_minutes"],
            saved["denied_attempts"]["lock"]) == (7, 30, True)
    r = client.post("/supervision/rules/off_hours", follow_redirects=False, data={
        "csrf": csrf, "enabled": "on", "limit": "0", "window_minutes": "1440", "start": "09:00", "end": "18:00",
        "weekend": ["6", "7"], "holidays": "2026-10-01, 2026-10-02", "workdays": ""})
    assert r.status_code == 303
    saved = {x["code"]: x for x in client.get("/api/v1/alarm-rules", headers=api("auditor")).json()["items"]}
    assert saved["off_hours"]["params"] == {"start": "09:00", "end": "18:00", "weekend": [6, 7],
                                            "holidays": ["2026-10-01", "2026-10-02"], "workdays": []}
    report = client.get("/supervision/report")
    assert report.status_code == 200
    xlsx = client.get("/supervision/report.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_web_pages_answer_not_found_to_staff(kehu, client, world, customers, clock, scanned):
    web_session(kehu, client, world, "alice")
    for url in ("/supervision/alerts", "/supervision/rules", "/supervision/report", "/supervision/report.xlsx",
                "/supervision/alerts/x"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert 'href="/supervision/' not in r.text
