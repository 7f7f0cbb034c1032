"""The in-process evaluation: the audit chain wakes the scanner after commits, never in the request."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from kehu.audit.models import AuditEntry
from kehu.supervision import scan as scan_module
from kehu.supervision.models import AlarmState
from kehu.supervision.scan import Worker
from tests.supervision.conftest import alerts, set_rule


def alice_views_three(client, api, customers) -> None:
    """A records-viewed limit of 2, then alice reads three archives (one over the limit)."""
    set_rule(client, api, "records_viewed", limit=2)
    for no in customers[:3]:
        assert client.get(f"/api/v1/customers/{no}", headers=api("alice")).status_code == 200


def test_chain_listeners_run_after_committed_entries_only(kehu, world):
    calls: list[str] = []
    kehu.audit.listeners.append(lambda: calls.append("commit"))
    with kehu.db.transaction() as s:  # an operation's own transaction
        world.ctx("alice").audit(s, action="customer.read")
    assert calls == ["commit"]
    kehu.audit_writer.submit([dict(action="customer.list", outcome="ok", actor_id=None, actor_name="x",
                                   target_type=None, target_id=None, customer_no=None, fields=None,
                                   reason=None, detail=None, ip=None)])  # the group committer of reads
    assert calls == ["commit", "commit"]
    with kehu.db.transaction():  # nothing appended: nobody woken
        pass
    try:
        with kehu.db.transaction() as s:
            world.ctx("alice").audit(s, action="customer.read")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert calls == ["commit", "commit"]


def test_worker_raises_the_alert_after_the_requests(kehu, client, api, customers, clock, monkeypatch):
    done = threading.Event()
    real = scan_module.scan

    def observed(k, **kw):
        result = real(k, **kw)
        if result.raised:
            done.set()
        return result

    monkeypatch.setattr(scan_module, "scan", observed)
    kehu.alarm_worker.stop()  # the app's worker, replaced by a quick one for the test
    kehu.alarm_worker = Worker(kehu, delay=0.05).start()
    alice_views_three(client, api, customers)
    assert done.wait(30), "the worker did not scan"
    kehu.alarm_worker.stop()
    [alert] = alerts(client, api, rule="records_viewed")
    assert (alert["user_name"], alert["count"]) == ("alice", 3)


def test_a_scan_counts_without_holding_the_write_lock(kehu, client, api, customers, clock, monkeypatch):
    """Audit commits (every request's) go on while the rules are counted; the alert is still raised."""
    alice_views_three(client, api, customers)
    real = scan_module.evaluate
    committed: list[bool] = []

    def counting(session, k, ck, hi):
        # a write transaction of another caller commits in the middle of the counting
        with kehu.db.transaction() as s:
            k.audit.stage(s, action="test.write", actor_name="other")
        committed.append(True)
        return real(session, k, ck, hi)

    monkeypatch.setattr(scan_module, "evaluate", counting)
    result = scan_module.scan(kehu)
    assert committed and result.raised == 1
    [alert] = alerts(client, api, rule="records_viewed")
    assert (alert["user_name"], alert["count"]) == ("alice", 3)


def test_a_batch_is_counted_again_when_another_scanner_moved_the_checkpoint(kehu, client, api, customers, clock,
                                                                             monkeypatch):
    alice_views_three(client, api, customers)
    real = scan_module.evaluate
    calls: list[int] = []

    def racing(session, k, ck, hi):
        calls.append(ck)
        if len(calls) == 1:  # another scanner records this range while the first one counts
            monkeypatch.setattr(scan_module, "evaluate", real)
            scan_module.scan(k)
            monkeypatch.setattr(scan_module, "evaluate", racing)
        return real(session, k, ck, hi)

    monkeypatch.setattr(scan_module, "evaluate", racing)
    outer = scan_module.scan(kehu)
    assert (outer.raised, outer.scanned) == (0, 0)  # its counts were dropped: the other scanner recorded them
    with kehu.db.reader() as s:
        head = s.scalar(select(func.max(AuditEntry.seq)))
        state = s.get(AlarmState, 1)
    assert state.last_seq == head and len(calls) == 1
    [alert] = alerts(client, api, rule="records_viewed")  # one alert, not two
    assert alert["count"] == 3


def test_the_worker_paces_itself_by_the_length_of_its_last_scan(kehu):
    worker = Worker(kehu, delay=2.0, pace=10.0, max_pause=60.0)
    assert worker.pause() == 2.0
    worker.last_scan = 0.5
    assert worker.pause() == 5.0
    worker.last_scan = 30.0
    assert worker.pause() == 60.0
