"""Helpers of the approval tests: a test kind, users with chosen capabilities and grants, audit rows."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kehu.access import service as access
from kehu.approvals import service
from kehu.approvals.kinds import Kind, register
from kehu.approvals.models import Approval
from kehu.audit.models import AuditEntry
from kehu.db import utcnow

KIND = register(Kind(code="test.operation", label="测试操作", capability="approve_export"))


def person(kehu, world, *, username: str, capabilities: list[str], grants: list[tuple[str, int]],
           scope: str = "all") -> str:
    """A role with exactly these capabilities and grants, and one user holding it."""
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code=f"r_{username}", name=f"r_{username}", scope=scope,
                           capabilities=capabilities)
        s.flush()
        access.set_grants(s, admin, role_code=f"r_{username}", grants=grants)
        u = access.create_user(s, admin, username=username, display_name=username.title(), password=world.password,
                               role_code=f"r_{username}", department_id=world.departments["hq"])
        world.users[username] = u.id
    return username


@pytest.fixture
def info2(kehu, world) -> str:
    """A second 信息管理员."""
    with kehu.db.transaction() as s:
        u = access.create_user(s, None, username="info2", display_name="Info2", password=world.password,
                               role_code="info_manager", department_id=world.departments["hq"])
        world.users["info2"] = u.id
    return "info2"


def ask(kehu, world, user: str = "info", *, payload: dict | None = None, rights=(("export", 1),)) -> str:
    """A pending test request by `user`; its id."""
    with kehu.db.transaction() as s:
        a = service.request(s, world.ctx(user), kind=KIND.code, summary="测试：导出三个字段",
                            payload=payload or {"fields": ["customer.name"], "purpose": "测试"}, rights=list(rights))
        return a.id


def run(kehu, fn):
    """Run a service call in a transaction of its own."""
    with kehu.db.transaction() as s:
        return fn(s)


def age(kehu, approval_id: str, *, hours: int) -> None:
    """Move a request's expiry into the past."""
    with kehu.db.transaction() as s:
        s.execute(update(Approval).where(Approval.id == approval_id)
                  .values(expires_at=utcnow() - timedelta(hours=hours)))


def audit_rows(kehu, action: str) -> list:
    """Audit entries of one action, in order (plain rows)."""
    table = AuditEntry.__table__
    with kehu.db.reader() as s:
        return list(s.execute(select(table).where(table.c.action == action).order_by(table.c.seq)))
