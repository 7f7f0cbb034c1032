"""A product manager (role with `manage_products`) and a small product catalogue."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kehu.access import service as access
from kehu.audit.models import AuditEntry
from kehu.orders import products
from tests.fixtures.world import role_user


@pytest.fixture
def catalogue(kehu, world) -> dict[str, str]:
    """Product codes by short name; user `pm` may manage products."""
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code="product_admin", name="产品管理员", scope="own",
                           capabilities=["manage_products"])
        s.flush()
        user = access.create_user(s, admin, username="pm", display_name="Pm", password=world.password,
                           role_code="product_admin", department_id=world.departments["hq"])
        world.users["pm"] = user.id
    pm = world.ctx("pm")
    with kehu.db.transaction() as s:
        products.create_line(s, pm, data={"code": "SW", "name": "软件"})
        s.flush()
        products.create(s, pm, data={"code": "CRM-STD", "name": "客户管理系统标准版", "line": "SW", "unit": "套",
                                     "list_price": "12000"})
        products.create(s, pm, data={"code": "SVC-Y", "name": "年度服务", "line": "SW", "unit": "年"})
    return {"crm": "CRM-STD", "svc": "SVC-Y"}


def audit_rows(kehu, action: str) -> list:
    """Audit entries of an action, oldest first."""
    cols = (AuditEntry.outcome, AuditEntry.customer_no, AuditEntry.fields, AuditEntry.detail, AuditEntry.reason,
            AuditEntry.target_type)
    with kehu.db.reader() as s:
        return list(s.execute(select(*cols).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


@pytest.fixture
def public_only(kehu, world) -> str:
    """User `pub`: a role that sees every customer's level-3 data and nothing else."""
    return role_user(kehu, world, code="public_only", scope="all", grants=[("view", 3)], username="pub")
