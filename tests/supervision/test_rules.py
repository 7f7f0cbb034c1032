"""Each alarm rule fires on a scripted access pattern and stays silent on normal use (both engines)."""
from __future__ import annotations

from datetime import timedelta

from tests.supervision.conftest import alerts, next_weekday_at, set_rule


def reveal(client, api, user, no, field="id_number"):
    r = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": [field], "reason": "核对身份"}, headers=api(user))
    assert r.status_code == 200, r.text


def test_level1_reveals_fire_above_the_limit(client, api, world, customers, clock, scanned):
    set_rule(client, api, "level1_reveals", limit=3)
    for no in customers[:3]:
        reveal(client, api, "head", no)
        clock.advance(minutes=5)
    for no in customers:  # level-2 reveals do not count
        reveal(client, api, "head", no, field="mobile")
    scanned()
    assert alerts(client, api, rule="level1_reveals") == []
    reveal(client, api, "head", customers[3])
    scanned()
    [alert] = alerts(client, api, rule="level1_reveals")
    assert (alert["user_name"], alert["count"], alert["limit"], alert["status"]) == ("head", 4, 3, "open")
    detail = client.get(f"/api/v1/alerts/{alert['id']}", headers=api("auditor")).json()
    assert [e["action"] for e in detail["entries"]] == ["customer.reveal"] * 4
    assert all(e["fields"] == ["customer.id_number"] for e in detail["entries"])


def test_level1_reveals_in_separate_windows_do_not_add_up(client, api, customers, clock, scanned):
    set_rule(client, api, "level1_reveals", limit=2)
    clock.set(next_weekday_at(10, 10))
    for no in customers[:2]:
        reveal(client, api, "head", no)
    clock.set(next_weekday_at(11, 10))
    for no in customers[2:4]:
        reveal(client, api, "head", no)
    scanned()
    assert alerts(client, api, rule="level1_reveals") == []


def test_records_viewed_counts_distinct_customers_of_reads_and_lists(client, api, customers, clock, scanned):
    set_rule(client, api, "records_viewed", limit=4)
    for no in customers[:4]:
        for _ in range(3):  # the same record again is still one record
            assert client.get(f"/api/v1/customers/{no}", headers=api("head")).status_code == 200
    scanned()
    assert alerts(client, api, rule="records_viewed") == []
    assert client.get("/api/v1/customers", headers=api("head")).status_code == 200  # the list shows all five
    scanned()
    [alert] = alerts(client, api, rule="records_viewed")
    assert (alert["user_name"], alert["count"]) == ("head", 5)


def test_records_viewed_by_list_pages_alone(client, api, customers, clock, scanned):
    set_rule(client, api, "records_viewed", limit=2)
    r = client.get("/api/v1/customers", params={"limit": 3}, headers=api("alice"))
    assert len(r.json()["items"]) == 3
    scanned()
    [alert] = alerts(client, api, rule="records_viewed")
    assert (alert["user_name"], alert["count"]) == ("alice", 3)


def test_export_burst_counts_exports_not_their_steps(kehu, client, api, world, clock, scanned):
    set_rule(client, api, "export_burst", limit=2)
    ctx = world.ctx("info")

    def export(actor, export_id, steps=("export.request", "export.start", "export.finish")):
        for action in steps:  # the steps the exports package writes for one file
            with kehu.db.transaction() as s:
                actor.audit(s, action=action, target_type="export", target_id=export_id,
                            fields=["customer.name", "customer.id_number"])
            clock.advance(seconds=30)

    export(ctx, "e1")
    export(ctx, "e2")
    for _ in range(5):  # looking at the export list is no export
        with kehu.db.transaction() as s:
            ctx.audit(s, action="export.list")
    export(world.ctx("head"), "e9")
    scanned()
    assert alerts(client, api, rule="export_burst") == []
    export(ctx, "e3", steps=("export.start",))
    scanned()
    [alert] = alerts(client, api, rule="export_burst")
    assert (alert["user_name"], alert["count"]) == ("info", 3)
    detail = client.get(f"/api/v1/alerts/{alert['id']}", headers=api("auditor")).json()
    assert len(detail["entries"]) == 7


def test_off_hours_at_night_on_weekends_and_holidays(client, api, customers, clock, scanned):
    clock.set(next_weekday_at(10))
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    scanned()
    assert alerts(client, api, rule="off_hours") == []
    clock.set(next_weekday_at(23, 30))  # Wednesday night
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    scanned()
    [night] = alerts(client, api, rule="off_hours")
    assert night["user_name"] == "alice" and night["count"] >= 1


def test_off_hours_calendar_holidays_and_make_up_workdays(client, api, customers, clock, scanned):
    saturday, thursday = next_weekday_at(10, weekday=5), next_weekday_at(10, weekday=3)
    beijing_day = lambda m: (m + timedelta(hours=8)).date().isoformat()  # noqa: E731
    set_rule(client, api, "off_hours", params={"start": "08:00", "end": "20:00", "weekend": [6, 7],
                                               "holidays": [beijing_day(thursday)],
                                               "workdays": [beijing_day(saturday)]})
    clock.set(saturday)  # a make-up workday: normal
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    scanned()
    assert alerts(client, api, rule="off_hours") == []
    clock.set(thursday)  # a public holiday
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    scanned()
    staff = lambda: sorted(a["user_name"] for a in alerts(client, api, rule="off_hours")  # noqa: E731
                           if a["user_name"] != "auditor")  # the auditor looking at the alerts is off hours too
    assert staff() == ["alice"]
    clock.set(next_weekday_at(10, weekday=6))  # an ordinary Sunday
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("head"))
    scanned()
    assert staff() == ["alice", "head"]


def test_off_hours_reads_the_company_calendar(kehu, client, api, customers, clock, scanned):
    """Holidays and make-up workdays of the one working-day calendar (the rights-request deadlines') count without
    being listed in the rule again; a calendar edit applies to the next scan."""
    from kehu.privacy.models import CalendarDay

    saturday, thursday = next_weekday_at(10, weekday=5), next_weekday_at(10, weekday=3)
    beijing_day = lambda m: (m + timedelta(hours=8)).date()  # noqa: E731
    with kehu.db.transaction() as s:
        s.add_all([CalendarDay(day=beijing_day(saturday), kind="workday", note="调休"),
                   CalendarDay(day=beijing_day(thursday), kind="holiday", note="节日")])
    staff = lambda: sorted(a["user_name"] for a in alerts(client, api, rule="off_hours")  # noqa: E731
                           if a["user_name"] != "auditor")
    clock.set(saturday)  # worked under the calendar: normal
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    scanned()
    assert staff() == []
    clock.set(thursday)  # a holiday under the calendar
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    scanned()
    assert staff() == ["alice"]
    with kehu.db.transaction() as s:  # the Saturday is no longer worked
        s.delete(s.get(CalendarDay, beijing_day(saturday)))
    clock.set(saturday + timedelta(minutes=30))
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("head"))
    scanned()
    assert staff() == ["alice", "head"]


def test_repeated_denied_attempts_and_failed_logins(client, api, world, customers, clock, scanned):
    set_rule(client, api, "denied_attempts", limit=3)
    for _ in range(3):  # bob (another group) may not see alice's customer: 404, audited as denied
        assert client.get(f"/api/v1/customers/{customers[0]}", headers=api("bob")).status_code == 404
    scanned()
    assert alerts(client, api, rule="denied_attempts") == []
    assert client.get(f"/api/v1/customers/{customers[1]}", headers=api("bob")).status_code == 404
    for _ in range(4):
        r = client.post("/api/v1/auth/token", json={"username": "carol", "password": "wrong-Password-1"})
        assert r.status_code == 401
        r = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong-Password-1"})
        assert r.status_code == 401
    scanned()
    found = {a["subject"] if not a["user_name"] or a["user_id"] is None else a["user_name"]: a["count"]
             for a in alerts(client, api, rule="denied_attempts")}
    assert found == {"bob": 4, "carol": 4, "ip:testclient": 4}


def test_dormant_account_suddenly_active(kehu, client, api, world, customers, clock, scanned):
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    clock.advance(days=10)
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    scanned()
    assert alerts(client, api, rule="dormant_active") == []
    clock.advance(days=45)
    client.get(f"/api/v1/customers/{customers[0]}", headers=api("alice"))
    client.get(f"/api/v1/customers/{customers[1]}", headers=api("alice"))  # active again: one alert only
    scanned()
    [alert] = alerts(client, api, rule="dormant_active")
    assert (alert["user_name"], alert["count"]) == ("alice", 45)


def test_normal_working_day_raises_nothing(client, api, world, customers, clock, scanned):
    for no in customers:
        client.get(f"/api/v1/customers/{no}", headers=api("alice"))
        client.get(f"/api/v1/customers/{no}", headers=api("head"))
        reveal(client, api, "head", no)
        clock.advance(minutes=7)
    client.get("/api/v1/customers", headers=api("alice"))
    client.post("/api/v1/auth/token", json={"username": "alice", "password": "typo-Password-1"})
    result = scanned()
    assert result.last_seq > 20
    assert alerts(client, api) == []


def test_disabled_rule_is_silent(client, api, customers, clock, scanned):
    set_rule(client, api, "records_viewed", limit=1, enabled=False)
    for no in customers:
        client.get(f"/api/v1/customers/{no}", headers=api("alice"))
    scanned()
    assert alerts(client, api, rule="records_viewed") == []


def test_rescan_from_the_start_never_duplicates(client, api, customers, clock, scanned):
    set_rule(client, api, "records_viewed", limit=2)
    for no in customers:
        client.get(f"/api/v1/customers/{no}", headers=api("alice"))
    scanned()
    before = alerts(client, api)
    again = scanned(start=0)
    assert again.raised == 0 and again.scanned > 0
    assert alerts(client, api) == before
    assert len([a for a in before if a["rule"] == "records_viewed"]) == 1
