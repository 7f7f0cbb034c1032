"""The rights-request register: identity verification, working-day deadlines, mandatory rejection reasons."""
from __future__ import annotations

from datetime import date

import pytest

from kehu.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kehu.privacy import calendar, requests
from tests.fixtures.world import create_customer


def _new(kehu, world, no: str, *, kind: str = "access", on: date = date(2026, 9, 21)) -> str:
    with kehu.db.transaction() as s:
        return requests.create(s, world.ctx("info"), customer_no=no, kind=kind, received_on=on).request_no


def test_deadline_counts_working_days_with_holidays_and_adjusted_days(kehu, world):
    with kehu.db.reader() as s:
        # 2026-09-21 (Mon): 国庆/中秋 1–7 Oct are holidays, Sun 20 Sep and Sat 10 Oct are working days
        assert calendar.add_working_days(s, date(2026, 9, 21), 15) == date(2026, 10, 19)
        assert calendar.add_working_days(s, date(2026, 3, 2), 15) == date(2026, 3, 23)  # plain weeks
        assert calendar.add_working_days(s, date(2026, 2, 12), 2) == date(2026, 2, 14)  # 调休: Saturday worked
        assert calendar.add_working_days(s, date(2026, 2, 12), 3) == date(2026, 2, 24)  # then 春节 15–23 Feb
    no = create_customer(kehu, as_user=world.ctx("info"))
    req = _new(kehu, world, no)
    with kehu.db.reader() as s:
        assert requests.get(s, world.ctx("info"), request_no=req).due_on == date(2026, 10, 19)


def test_an_administrator_edits_the_calendar(kehu, world):
    with kehu.db.transaction() as s:
        requests.set_calendar_day(s, world.ctx("info"), day=date(2027, 1, 1), kind="holiday", note="元旦")
    with kehu.db.reader() as s:
        assert calendar.add_working_days(s, date(2026, 12, 31), 1) == date(2027, 1, 4)
    with kehu.db.transaction() as s:
        requests.set_calendar_day(s, world.ctx("info"), day=date(2027, 1, 1), kind=None)
    with kehu.db.reader() as s:
        assert calendar.add_working_days(s, date(2026, 12, 31), 1) == date(2027, 1, 1)


def test_nothing_progresses_unverified_and_every_rejection_has_a_reason(kehu, world):
    no = create_customer(kehu, as_user=world.ctx("info"))
    req = _new(kehu, world, no, kind="deletion")
    with pytest.raises(Conflict) as err, kehu.db.transaction() as s:
        requests.complete(s, world.ctx("info"), request_no=req, outcome="已处理完毕")
    assert err.value.code == "not_verified"
    with pytest.raises(ValidationFailed) as bad, kehu.db.transaction() as s:
        requests.reject(s, world.ctx("info"), request_no=req, reason=" ")
    assert [e.field for e in bad.value.errors] == ["reason"]
    with kehu.db.transaction() as s:
        requests.verify(s, world.ctx("info"), request_no=req, method="mobile_code")
    with kehu.db.reader() as s:
        r = requests.get(s, world.ctx("info"), request_no=req)
        assert r.status == "verified" and r.verified_by == world.users["info"] and r.verified_at is not None
    with kehu.db.transaction() as s:
        requests.reject(s, world.ctx("info"), request_no=req, reason="法律要求保留该信息")
    with kehu.db.reader() as s:
        assert requests.get(s, world.ctx("info"), request_no=req).reject_reason == "法律要求保留该信息"


def test_overdue_requests_are_flagged(kehu, world):
    no = create_customer(kehu, as_user=world.ctx("info"))
    _new(kehu, world, no, on=date(2026, 3, 2))
    with kehu.db.reader() as s:
        assert requests.list_(s, world.ctx("info"), today=date(2026, 3, 23), overdue=True) == []
        late = requests.list_(s, world.ctx("info"), today=date(2026, 3, 24), overdue=True)
    assert len(late) == 1 and late[0]["overdue"] is True


def test_only_handlers_see_the_register(kehu, world):
    no = create_customer(kehu, as_user=world.ctx("info"))
    with pytest.raises(Forbidden), kehu.db.transaction() as s:
        requests.create(s, world.ctx("alice"), customer_no=no, kind="access", received_on=date(2026, 3, 2))
    with pytest.raises(NotFound), kehu.db.transaction() as s:
        requests.create(s, world.ctx("info"), customer_no="KH20269999999", kind="access", received_on=date(2026, 3, 2))
    with pytest.raises(ValidationFailed) as bad, kehu.db.transaction() as s:
        requests.create(s, world.ctx("info"), customer_no=no, kind="nonsense", received_on=date(2026, 3, 2),
                        working_days=0)
    assert {e.field for e in bad.value.errors} == {"kind", "working_days"}


def test_a_verified_deletion_request_erases_after_approval_and_closes(kehu, world, info2):
    from kehu.approvals import service as approvals
    from kehu.privacy import retention

    no = create_customer(kehu, as_user=world.ctx("info"))
    req = _new(kehu, world, no, kind="deletion")
    with pytest.raises(Conflict), kehu.db.transaction() as s:
        retention.request_for_rights(s, world.ctx("info"), request_no=req)
    with kehu.db.transaction() as s:
        requests.verify(s, world.ctx("info"), request_no=req, method="id_document")
    with kehu.db.transaction() as s:
        d = retention.request_for_rights(s, world.ctx("info"), request_no=req)
        did, aid = d.id, d.approval_id
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=aid, approve=True, reason=None)
    with kehu.db.transaction() as s:
        retention.execute(s, world.ctx("info"), destruction_id=did, today=date(2026, 11, 22))
    with kehu.db.reader() as s:
        r = requests.get(s, world.ctx("info"), request_no=req)
        assert r.status == "completed" and did in r.outcome
