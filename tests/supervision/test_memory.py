"""The scanner's memory of counted windows: scanning in many small steps — with restarts, a second process
scanning in between, clocks going back and windows forgotten — raises exactly the alerts of one scan of the
whole log counted from scratch."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from kehu.db import Database
from kehu.runtime import Kehu
from kehu.supervision import rules as R
from kehu.supervision import scan as scan_module
from kehu.supervision.models import AlarmRule, AlarmState, Alert
from kehu.supervision.scan import scan


def entry(rng: random.Random, level1: str) -> dict:
    """One audit entry of a small cast of users (and anonymous addresses) over a few records."""
    user = rng.choice(["u1", "u2", "u3", None])
    base = dict(actor_id=user, actor_name=user and user.upper(), ip=f"10.0.0.{rng.randrange(3)}", outcome="ok",
                fields=None, detail=None, customer_no=None, target_type=None, target_id=None, reason=None)
    no = f"KH2026{rng.randrange(12):07d}"
    kind = rng.random()
    if user is None or kind < 0.1:
        return base | dict(action="auth.login", outcome=rng.choice(["failed", "denied"]))
    if kind < 0.45:
        return base | dict(action="customer.read", customer_no=no, fields="mobile")
    if kind < 0.6:
        records = ", ".join(f'"KH2026{rng.randrange(12):07d}"' for _ in range(rng.randrange(1, 5)))
        return base | dict(action="customer.list", detail='{"q": false, "records": [' + records + ']}')
    if kind < 0.8:
        return base | dict(action="customer.reveal", customer_no=no, fields=level1, reason="核对")
    return base | dict(action=f"export.{rng.choice(['start', 'finish'])}", fields="name",
                       target_type="export", target_id=f"e{rng.randrange(6)}")


def snapshot(kehu) -> dict:
    with kehu.db.reader() as s:
        return {(a.rule, a.subject, a.bucket): (a.count, a.first_seq, a.last_seq)
                for a in s.execute(select(Alert)).scalars()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stepwise_scans_raise_what_one_scan_from_scratch_raises(kehu, seed):
    rng = random.Random(seed)
    with kehu.db.transaction() as s:
        for code, limit, minutes in [("records_viewed", 3, 60), ("level1_reveals", 2, 30), ("export_burst", 1, 60),
                                     ("denied_attempts", 2, 45), ("off_hours", 0, 1440)]:
            s.add(AlarmRule(code=code, enabled=True, limit=limit, window_minutes=minutes, lock=False))
        level1 = R.level1_keys(kehu.catalog(s))[0]
    other = Kehu(kehu.settings, keys=kehu.keys, db=Database(kehu.settings.database_url))  # a second process
    now = kehu.audit.clock()
    kehu.audit.clock = lambda: now
    steps = {"scan": 0, "other": 0, "restart": 0, "rescan": 0}
    for _ in range(120):
        roll = rng.random()  # time moves on, mostly by minutes; sometimes back (a slow clock) or a day ahead
        now += (timedelta(minutes=rng.randrange(0, 25)) if roll < 0.85 else
                -timedelta(minutes=rng.randrange(1, 90)) if roll < 0.95 else timedelta(days=1, minutes=7))
        with kehu.db.transaction() as s:
            kehu.audit.append(s.connection(), [entry(rng, level1) for _ in range(rng.randrange(1, 12))])
        act = rng.random()
        if act < 0.15:
            scan(other, lock=False, batch=rng.choice([5, 50]))
            steps["other"] += 1
        elif act < 0.2:
            scan_module._MEMORIES.pop(kehu, None)  # this process restarts
            steps["restart"] += 1
        elif act < 0.25:  # an administrator re-scans recent history (kehu alarms scan --from)
            with kehu.db.reader() as s:
                done = s.get(AlarmState, 1)
            scan(kehu, lock=False, start=max(0, (done.last_seq if done else 0) - rng.randrange(40)))
            steps["rescan"] += 1
        elif act < 0.8:
            scan(kehu, lock=False, batch=rng.choice([3, 20, 1000]))
            steps["scan"] += 1
    scan(kehu, lock=False)
    assert min(steps.values()) > 0
    stepwise = snapshot(kehu)
    assert {rule for rule, _s, _b in stepwise} >= {"records_viewed", "level1_reveals", "export_burst",
                                                   "denied_attempts", "off_hours"}
    with kehu.db.transaction() as s:
        s.execute(delete(Alert))
        s.execute(delete(AlarmState))
    fresh = Kehu(kehu.settings, keys=kehu.keys, db=Database(kehu.settings.database_url))
    scan(fresh, lock=False, batch=10 ** 9)  # every entry in one batch: counted straight from the log
    assert stepwise == snapshot(fresh)
    for k in (other, fresh):
        k.db.engine.dispose()


def test_a_settings_change_counts_the_window_afresh(kehu):
    with kehu.db.transaction() as s:
        s.add(AlarmRule(code="denied_attempts", enabled=True, limit=2, window_minutes=60, lock=False))
    failed = dict(actor_id=None, actor_name=None, ip="10.9.9.9", outcome="failed", fields=None, detail=None,
                  customer_no=None, target_type=None, target_id=None, reason=None, action="auth.login")
    for _ in range(2):
        with kehu.db.transaction() as s:
            kehu.audit.append(s.connection(), [failed])
        scan(kehu, lock=False)
    assert snapshot(kehu) == {}
    with kehu.db.transaction() as s:  # a longer window: the memory of the 60-minute one no longer applies
        s.get(AlarmRule, "denied_attempts").window_minutes = 120
        kehu.audit.append(s.connection(), [failed])
    scan(kehu, lock=False)
    [(count, _first, _last)] = snapshot(kehu).values()
    assert count == 3
