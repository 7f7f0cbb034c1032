"""A richly populated customer (every kind of record), a second handler and helpers for privacy tests."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kehu.access import service as access
from kehu.complaints import service as complaints
from kehu.customers import children, service
from kehu.interactions import service as interactions
from kehu.orders import payments, service as orders
from kehu.orders import products
from tests.fixtures.world import customer_data



def level1(n: int) -> dict[str, str]:
    """Every level-1 field of a customer, distinct per n."""
    return dict(bank_name=f"招商银行北京{n}分行", bank_account=f"62220202001122{n:05d}", credit_rating="AAA",
                annual_income=f"年收入{n}百万", allergies=f"青霉素过敏{n}型", geo_location=f"39.90{n:02d},116.3975")


@dataclass
class Rich:
    """A customer with records of every kind, and the strings that identify them."""

    archive_no: str
    customer_id: str
    secrets: dict[str, str] = field(default_factory=dict)  # what must vanish on erasure
    order_no: str = ""


def _second_info(kehu, world) -> None:
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        user = access.create_user(s, admin, username="info2", display_name="Info2", password=world.password,
                                  role_code="info_manager", department_id=world.departments["hq"])
        world.users["info2"] = user.id


@pytest.fixture
def info2(kehu, world) -> str:
    """A second 信息管理员 (the second person of every approval)."""
    _second_info(kehu, world)
    return "info2"


def make_rich(kehu, world, *, name: str = "欧阳娜娜", n: int = 7) -> Rich:
    """Create the rich customer as 信息管理员 (with order products set up once per store)."""
    ctx = world.ctx("info")
    data = customer_data(name=name, **level1(n), room_preference="靠窗安静", dining_habits="素食",
                         special_needs="轮椅通道", notes="喜欢红酒", company="北京星河文化传媒", landline="010-65432198")
    with kehu.db.transaction() as s:
        c = service.create(s, ctx, data=data, reason="录入")
        rich = Rich(archive_no=c.archive_no, customer_id=c.id)
    rich.secrets = {"name": name, "mobile": data["mobile"], "id_number": data["id_number"], "email": data["email"],
                    "street": data["street"], "bank_account": level1(n)["bank_account"], "allergies": level1(n)["allergies"],
                    "relation": f"欧阳震华{n}", "relation_mobile": f"1371234{n:04d}", "contact_mobile": f"1365555{n:04d}",
                    "home": f"朝阳北路{n}号院", "followup": f"讨论续约细节{n}", "payer_account": f"62170000100{n:08d}",
                    "complaint": f"服务态度差投诉内容{n}", "signer": f"签约人{n}号"}
    with kehu.db.transaction() as s:
        children.add(s, ctx, archive_no=c.archive_no, entity="relation",
                     data={"kind": "spouse", "name": rich.secrets["relation"], "mobile": rich.secrets["relation_mobile"]},
                     reason="补充")
        children.add(s, ctx, archive_no=c.archive_no, entity="address",
                     data={"label": "家庭地址", "street": rich.secrets["home"]}, reason="补充")
        children.add(s, ctx, archive_no=c.archive_no, entity="contact",
                     data={"name": "王秘书", "mobile": rich.secrets["contact_mobile"]}, reason="补充")
        children.add(s, ctx, archive_no=c.archive_no, entity="anniversary",
                     data={"kind": "wedding", "day": "2015-05-20"}, reason="补充")
    with kehu.db.transaction() as s:
        service.update(s, ctx, archive_no=c.archive_no, data={"credit_rating": "AA"}, reason="复评")
        interactions.add(s, ctx, archive_no=c.archive_no, entity="followup",
                         data={"method": "phone", "followed_at": "2026-03-01T10:00:00+08:00",
                               "result": "已沟通", "notes": rich.secrets["followup"]})
        complaints.register(s, ctx, customer_no=c.archive_no, data={
            "kind": "服务", "channel": "email", "urgency": "一般", "received_on": "2026-03-02",
            "content": rich.secrets["complaint"]}, today=__import__("datetime").date(2026, 3, 2))
    from kehu.orders.models import Product
    from sqlalchemy import select

    with kehu.db.reader() as s:
        have = s.execute(select(Product.id).limit(1)).first()
    if have is None:
        admin = world.ctx("admin")
        with kehu.db.transaction() as s:
            access.create_role(s, admin, code="product_admin", name="产品管理员", scope="own",
                               capabilities=["manage_products"])
            s.flush()
            u = access.create_user(s, admin, username="pm", display_name="Pm", password=world.password,
                                   role_code="product_admin", department_id=world.departments["hq"])
            world.users["pm"] = u.id
        with kehu.db.transaction() as s:
            pm = world.ctx("pm")
            products.create_line(s, pm, data={"code": "SW", "name": "软件"})
            s.flush()
            products.create(s, pm, data={"code": "CRM-STD", "name": "客户管理系统", "line": "SW", "unit": "套"})
    with kehu.db.transaction() as s:
        order = orders.create(s, ctx, customer_no=c.archive_no, data={"signer": rich.secrets["signer"]},
                              items=[{"product_id": "CRM-STD", "quantity": "2", "unit_price": "5000"}])
        rich.order_no = order["order_no"]
    with kehu.db.transaction() as s:
        payments.add(s, ctx, order_no=rich.order_no, entity="payment",
                     data={"paid_on": "2026-02-01", "amount": "10000", "method": "transfer",
                           "account": rich.secrets["payer_account"]})
    return rich


@pytest.fixture
def rich(kehu, world) -> Rich:
    """One richly populated customer."""
    return make_rich(kehu, world)


from tests.ops.conftest import fresh_url  # noqa: E402,F401  (an empty target store of the same engine)


def destroy(kehu, world, archive_no: str, *, requester: str = "info", approver: str = "info2") -> dict:
    """Request the archive's destruction and have a second person approve it; the destruction record."""
    from datetime import date

    from kehu.approvals import service as approvals
    from kehu.privacy import retention

    with kehu.db.transaction() as s:
        d = retention.request_archive(s, world.ctx(requester), customer_no=archive_no, reason="客户要求删除")
        did = d.id
        approval_id = d.approval_id
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx(approver), approval_id=approval_id, approve=True, reason=None)
    with kehu.db.transaction() as s:
        retention.execute(s, world.ctx(requester), destruction_id=did, today=date(2026, 11, 22))
    with kehu.db.reader() as s:
        return retention.list_destructions(s, world.ctx(approver))[0]
