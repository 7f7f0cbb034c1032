"""Retention: what is due, legal holds, the run through a second person's approval, destruction records."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

from sqlalchemy import select, update
from typer.testing import CliRunner

from kehu.approvals import service as approvals
from kehu.customers.models import Customer, History
from kehu.orders.models import Order
from kehu.privacy import retention
from tests.fixtures.world import create_customer

TODAY = date(2026, 11, 22)


def _age(kehu, no: str, *, created: datetime, status: str = "inactive") -> None:
    with kehu.db.transaction() as s:
        s.execute(update(Customer).where(Customer.archive_no == no).values(created_at=created, status=status))


def test_dry_run_lists_due_customers_by_class_and_count(kehu, world):
    info = world.ctx("info")
    old, recent, active = (create_customer(kehu, as_user=info) for _ in range(3))
    _age(kehu, old, created=datetime(2023, 1, 5, tzinfo=timezone.utc))
    _age(kehu, recent, created=datetime(2025, 6, 1, tzinfo=timezone.utc))
    _age(kehu, active, created=datetime(2020, 1, 1, tzinfo=timezone.utc), status="active")
    with kehu.db.transaction() as s:
        result = retention.dry_run(s, world.ctx("info"), today=TODAY)
    assert result["customers"] == 1
    assert {"class": "relationship", "class_label": "合作关系存续期间及最后一次交易后2年", "entity": "customer",
            "count": 1} in result["categories"]
    assert old not in json.dumps(result)  # counts only


def test_retention_run_needs_a_second_person_and_respects_holds(kehu, world, info2):
    info = world.ctx("info")
    old, held = create_customer(kehu, as_user=info), create_customer(kehu, as_user=info)
    for no in (old, held):
        _age(kehu, no, created=datetime(2023, 1, 5, tzinfo=timezone.utc))
    with kehu.db.transaction() as s:
        d = retention.request_retention(s, world.ctx("info"), today=TODAY)
        did, aid = d.id, d.approval_id
    with kehu.db.transaction() as s:  # placed after the request, before execution: still honoured
        retention.place_hold(s, world.ctx("info"), customer_no=held, reason="税务稽查")
    with kehu.db.reader() as s:
        assert retention.approved_pending(s, world.ctx("info")) == []
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=aid, approve=True, reason="已核对")
    with kehu.db.reader() as s:
        assert retention.approved_pending(s, world.ctx("info")) == [did]
    with kehu.db.transaction() as s:
        retention.execute(s, world.ctx("info"), destruction_id=did, today=TODAY)
    with kehu.db.reader() as s:
        statuses = dict(s.execute(select(Customer.archive_no, Customer.status)).all())
        record = retention.list_destructions(s, world.ctx("info2"))[0]
    assert statuses[old] == "erased" and statuses[held] == "inactive"
    assert record["approved_by"] == "Info2" and record["executed_at"] and record["method"]
    assert record["summary"]["skipped"] == [held]
    assert {"class": "relationship", "entity": "customer", "method": "tombstone", "count": 1} in record["summary"]["items"]
    assert {"class": "relationship", "entity": "customer_history", "method": "delete", "count": 1} in record["summary"]["items"]


def test_accounting_records_go_after_thirty_years(kehu, world, info2, rich):
    from tests.privacy.conftest import destroy

    destroy(kehu, world, rich.archive_no)
    with kehu.db.transaction() as s:
        assert retention.request_retention(s, world.ctx("info"), today=TODAY) is None  # kept: 会计档案
        s.execute(update(Order).values(created_at=datetime(1995, 1, 1, tzinfo=timezone.utc)))
    with kehu.db.transaction() as s:
        d = retention.request_retention(s, world.ctx("info"), today=TODAY)
        did, aid = d.id, d.approval_id
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=aid, approve=True, reason=None)
    with kehu.db.transaction() as s:
        retention.execute(s, world.ctx("info"), destruction_id=did, today=TODAY)
    with kehu.db.reader() as s:
        assert s.execute(select(Order)).first() is None
        assert s.execute(select(Customer.archive_no).where(Customer.archive_no == rich.archive_no)).scalar_one()


def test_cli_dry_run_then_run_then_run_again(kehu, world, info2, monkeypatch):
    from kehu import cli

    monkeypatch.setattr(cli, "runtime", lambda: kehu)
    old = create_customer(kehu, as_user=world.ctx("info"))
    _age(kehu, old, created=datetime(2023, 1, 5, tzinfo=timezone.utc))
    runner = CliRunner()
    out = runner.invoke(cli.app, ["retention", "run", "--as", "info", "--dry-run", "--today", "2026-11-22"])
    assert out.exit_code == 0, out.output
    assert "到期客户 1 个" in out.output
    out = runner.invoke(cli.app, ["retention", "run", "--as", "info", "--today", "2026-11-22"])
    assert "等待第二人审批" in out.output
    with kehu.db.reader() as s:
        d = retention.list_destructions(s, world.ctx("info"))[0]
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=d["approval_id"], approve=True, reason=None)
    out = runner.invoke(cli.app, ["retention", "run", "--as", "info", "--today", "2026-11-22"])
    assert "已执行销毁" in out.output and "没有新的到期数据" in out.output
    with kehu.db.reader() as s:
        assert s.execute(select(Customer.status).where(Customer.archive_no == old)).scalar_one() == "erased"
        assert s.execute(select(History)).all() == []
