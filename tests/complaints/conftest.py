"""Helpers of the complaint and survey tests."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kehu.access import service as access
from kehu.audit.models import AuditEntry
from kehu.customers.models import History
from tests.fixtures.world import role_user


def audit_rows(kehu, action: str) -> list:
    """Audit entries of an action, oldest first."""
    cols = (AuditEntry.outcome, AuditEntry.customer_no, AuditEntry.fields, AuditEntry.detail, AuditEntry.reason,
            AuditEntry.target_type)
    with kehu.db.reader() as s:
        return list(s.execute(select(*cols).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def history_of(kehu, record_id: str) -> list:
    """(field, old, new, reason) of the history rows of one record, oldest first."""
    with kehu.db.reader() as s:
        rows = s.execute(select(History).where(History.record_id == record_id).order_by(History.seq)).scalars()
        return [(h.field, h.old_value and h.old_value.decode(), h.new_value and h.new_value.decode(), h.reason)
                for h in rows]


def register_body(no: str, **kw) -> dict:
    """A valid complaint registration."""
    return {"customer_no": no, "kind": "商品", "channel": "phone", "urgency": "急", "received_on": "2026-03-02",
            "content": "收到的打印机外壳破裂，要求尽快处理", **kw}


STEPS = [("investigate", {"cause": "物流运输中包装不足导致破损"}),
         ("countermeasure", {"countermeasure": "更换新机并加强包装"}),
         ("handle", {"handling": "换货", "loss_amount": "350.5"}),
         ("evaluate", {"satisfaction": "满意", "evaluation_note": "处理及时"}),
         ("close", {})]


@pytest.fixture
def public_only(kehu, world) -> str:
    """User `pub`: a role that sees every customer's level-3 data and nothing else."""
    return role_user(kehu, world, code="public_only", scope="all", grants=[("view", 3)], username="pub")


@pytest.fixture
def survey_admin(kehu, world) -> str:
    """User `sm`: a role holding the manage_surveys capability."""
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code="survey_admin", name="问卷管理员", scope="own",
                           capabilities=["manage_surveys"])
        s.flush()
        access.create_user(s, admin, username="sm", display_name="Sm", password=world.password,
                           role_code="survey_admin", department_id=world.departments["hq"])
    return "sm"
