"""The in-process evaluation: the audit chain wakes the scanner after commits, never in the request."""
from __future__ import annotations

import threading

from kehu.supervision import scan as scan_module
from kehu.supervision.scan import Worker
from tests.supervision.conftest import alerts, set_rule


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
    set_rule(client, api, "records_viewed", limit=2)
    for no in customers[:3]:
        assert client.get(f"/api/v1/customers/{no}", headers=api("alice")).status_code == 200
    assert done.wait(30), "the worker did not scan"
    kehu.alarm_worker.stop()
    [alert] = alerts(client, api, rule="records_viewed")
    assert (alert["user_name"], alert["count"]) == ("alice", 3)
