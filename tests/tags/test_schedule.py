"""The scheduled full evaluation: period starts, due after the last evaluation, one run at a time, the settings
form and API (validation, nothing half-saved), the audit entry, and the thread inside the server."""
from __future__ import annotations

import json
import re
import threading
import time as clock
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kehu.audit.models import AuditEntry
from kehu.db import utcnow
from kehu.tags import builtin, schedule
from kehu.web.render import format_dt
from tests.tags.conftest import csrf_of as _csrf


def cst(*args) -> datetime:
    """A moment in China Standard Time, as UTC."""
    return datetime(*args, tzinfo=timezone(timedelta(hours=8))).astimezone(timezone.utc)


@pytest.mark.parametrize(("period", "now", "latest", "following"), [
    # quarterly: the first day of January, April, July, October at the hour (company time)
    ("quarterly", cst(2026, 5, 17, 9), cst(2026, 4, 1, 2), cst(2026, 7, 1, 2)),
    ("quarterly", cst(2026, 1, 1, 1, 59), cst(2025, 10, 1, 2), cst(2026, 1, 1, 2)),  # just before the hour
    ("quarterly", cst(2026, 1, 1, 2), cst(2026, 1, 1, 2), cst(2026, 4, 1, 2)),  # exactly at it
    ("quarterly", cst(2026, 12, 31, 23), cst(2026, 10, 1, 2), cst(2027, 1, 1, 2)),
    ("monthly", cst(2026, 3, 1, 1), cst(2026, 2, 1, 2), cst(2026, 3, 1, 2)),
    ("monthly", cst(2026, 12, 5, 8), cst(2026, 12, 1, 2), cst(2027, 1, 1, 2)),
    ("weekly", cst(2026, 11, 25, 12), cst(2026, 11, 23, 2), cst(2026, 11, 30, 2)),  # Wednesday → Monday
    ("weekly", cst(2026, 11, 23, 1), cst(2026, 11, 16, 2), cst(2026, 11, 23, 2)),
    ("daily", cst(2026, 11, 23, 1), cst(2026, 11, 22, 2), cst(2026, 11, 23, 2)),
    ("daily", cst(2026, 11, 23, 3), cst(2026, 11, 23, 2), cst(2026, 11, 24, 2)),
])
def test_period_starts_in_company_time(period, now, latest, following):
    assert schedule.slots(now, period, 2) == (latest, following)


def test_off_has_no_slots():
    assert schedule.slots(utcnow(), "off", 2) is None


def _conf(kehu):
    with kehu.db.reader() as s:
        return builtin.settings(s)


def _evaluations(kehu) -> list[dict]:
    with kehu.db.reader() as s:
        rows = s.execute(select(AuditEntry.actor_name, AuditEntry.detail)
                         .where(AuditEntry.action == "tag.evaluate").order_by(AuditEntry.seq)).all()
    return [{"actor": a, **json.loads(d)} for a, d in rows]


def test_due_after_each_period_start_and_run_once(kehu, world):
    st = schedule.status(_conf(kehu))
    assert st["period"] == "quarterly" and st["hour"] == 2 and st["due"] and st["last"] is None  # never evaluated
    stats = schedule.run_due(kehu)
    assert stats is not None and stats["rules"] > 0
    assert schedule.run_due(kehu) is None  # done: not due again within the period
    conf = _conf(kehu)
    last = schedule.last_evaluation(conf)
    st = schedule.status(conf)
    assert not st["due"] and st["next"] == schedule.slots(utcnow(), "quarterly", 2)[1] and st["last"] == last
    # the next period start makes it due again; a missed one (server down) is made up once
    assert schedule.status(conf, st["next"] + timedelta(seconds=1))["due"]
    assert schedule.status(conf, st["next"] + timedelta(days=200))["due"]
    assert schedule.due_in(kehu) == pytest.approx((st["next"] - utcnow()).total_seconds(), abs=5)
    entries = _evaluations(kehu)
    assert len(entries) == 1 and entries[0]["actor"] == "scheduler" and entries[0]["trigger"] == "schedule"
    assert entries[0]["customers"] == stats["customers"] and entries[0]["rules"] == stats["rules"]
    assert entries[0]["gained"] == sum(c["gained"] for c in stats["changes"].values())
    # daily: due again at the next 02:00 after the last run
    with kehu.db.transaction() as s:
        builtin.put(s, "schedule.period", "daily")
    conf = _conf(kehu)
    assert schedule.status(conf)["due"] == (last < schedule.slots(utcnow(), "daily", 2)[0])
    assert schedule.status(conf, last + timedelta(days=1, hours=1))["due"]
    with kehu.db.transaction() as s:
        builtin.put(s, "schedule.period", "off")
    off = schedule.status(_conf(kehu), last + timedelta(days=400))
    assert not off["due"] and off["next"] is None and schedule.due_in(kehu) == 3600.0
    assert schedule.run_due(kehu, last + timedelta(days=400)) is None


def test_two_servers_due_at_once_run_one_evaluation(kehu, world):
    results, errors = [], []
    start = threading.Barrier(2)

    def server():
        try:
            start.wait()
            results.append(schedule.run_due(kehu))
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
    threads = [threading.Thread(target=server) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(r is None for r in results) == [False, True]  # one ran it, the other found it done
    assert len(_evaluations(kehu)) == 1


def test_the_server_thread_runs_a_due_evaluation(kehu, world, monkeypatch):
    monkeypatch.setattr(kehu, "settings", kehu.settings.model_copy(update={"tag_schedule": True}))
    thread = schedule.install(kehu)
    try:
        deadline = clock.monotonic() + 60
        while not _evaluations(kehu) and clock.monotonic() < deadline:
            clock.sleep(0.2)
        assert [e["actor"] for e in _evaluations(kehu)] == ["scheduler"]
        assert thread.due_in() > 3600  # the next one at the next quarter's start
        assert (kehu.settings.var_dir / ".tag-evaluation.lock").exists()
    finally:
        thread.stop()
    monkeypatch.setattr(kehu, "settings", kehu.settings.model_copy(update={"tag_schedule": False}))
    assert schedule.install(kehu) is None


def test_settings_api_names_every_bad_field_and_saves_nothing(client, api, kehu, world):
    before = client.get("/api/v1/tags/settings", headers=api("info")).json()
    assert before["schedule"]["period"] == "quarterly" and before["schedule"]["hour"] == 2
    r = client.put("/api/v1/tags/settings", headers=api("info"), json={
        "params": {"churn_days": 200}, "schedule": {"period": "yearly", "hour": 24, "minute": 5}})
    assert r.status_code == 422
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert set(errors) == {"schedule.period", "schedule.hour", "schedule.minute"}
    assert errors["schedule.period"]["code"] == "invalid" and "每季度（quarterly）" in errors["schedule.period"]["message"]
    assert "0–23" in errors["schedule.hour"]["message"] and errors["schedule.minute"]["code"] == "unknown"
    assert client.get("/api/v1/tags/settings", headers=api("info")).json() == before  # churn_days not saved either
    r = client.put("/api/v1/tags/settings", headers=api("info"), json={"schedule": {"period": "monthly", "hour": 0}})
    assert r.status_code == 200 and r.json()["schedule"]["period"] == "monthly" and r.json()["schedule"]["hour"] == 0
    assert r.json()["schedule"]["due"] is True  # never evaluated
    assert client.put("/api/v1/tags/settings", headers=api("head"),
                      json={"schedule": {"period": "daily"}}).status_code == 403  # reviews tags, does not manage


def test_settings_page(browse, kehu, world):
    c = browse("info")
    page = c.get("/tags/settings")
    assert page.status_code == 200 and "尚未进行全量评估" in page.text and "自动评估已到期" in page.text
    assert '<option value="quarterly" selected>每季度</option>' in page.text
    assert 'href="/tags/settings"' in page.text  # in the menu
    form = {"csrf": _csrf(page.text), "schedule.period": "weekly", "schedule.hour": "3", "params.active_days": "60",
            "params.churn_days": "abc", "params.grade_period_days": "90", "grade.a_top": "15", "grade.b_top": "30",
            "grade.b_freq_top": "15"}
    bad = c.post("/tags/settings", data=form)
    assert bad.status_code == 422 and "须为1–36500之间的整数" in bad.text
    assert 'value="abc"' in bad.text and '<option value="weekly" selected>' in bad.text  # what was typed stays
    assert _conf(kehu)["schedule"]["period"] == "quarterly" and _conf(kehu)["params"]["active_days"] == 90
    ok = c.post("/tags/settings", data={**form, "params.churn_days": "365"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/tags/settings?ok=saved"
    conf = _conf(kehu)
    assert conf["schedule"] == {"period": "weekly", "hour": 3} and conf["params"]["churn_days"] == 365
    schedule.run_due(kehu)
    page = c.get("/tags/settings").text
    last = schedule.last_evaluation(_conf(kehu))
    assert f"上次全量评估：{format_dt(last)}" in page
    nxt = schedule.slots(utcnow(), "weekly", 3)[1]
    assert f"下次自动评估：{format_dt(nxt)}。" in page and re.search(r"客户 \d+ 个、规则 \d+ 条", page)
    head = browse("head")  # reviews tags: reads the settings, cannot save them
    view = head.get("/tags/settings")
    assert view.status_code == 200 and "仅标签管理员可修改设置" in view.text
    denied = head.post("/tags/settings", data={**form, "csrf": _csrf(view.text), "schedule.period": "off"})
    assert denied.status_code == 404 and _conf(kehu)["schedule"]["period"] == "weekly"  # the web UI: as if absent
    alice = browse("alice")
    assert alice.get("/tags/settings").status_code == 404 and 'href="/tags/settings"' not in alice.get("/").text
