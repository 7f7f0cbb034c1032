"""Public pool (公海): recycling on a simulated clock, warnings, claiming (cap, cooldown), settings, audit."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from kehu.audit.models import AuditEntry
from kehu.customers.models import Customer, History
from kehu.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kehu.pools import service as pool
from kehu.pools.models import PoolEntry
from tests.fixtures.world import create_customer
from tests.pools.helpers import give_capability


def _customer(kehu, no: str) -> Customer:
    with kehu.db.reader() as s:
        c = s.execute(select(Customer).where(Customer.archive_no == no)).scalar_one()
        s.expunge(c)
        return c


def _recycle(kehu, now: datetime) -> list[str]:
    with kehu.db.transaction() as s:
        return pool.recycle(s, kehu, now=now)


def _warnings(kehu, now: datetime, owner_id=None) -> list[dict]:
    with kehu.db.reader() as s:
        return pool.warnings(s, now=now, owner_id=owner_id)


def _settings(kehu, world, **values) -> None:
    give_capability(kehu, "info_manager", "manage_pool")
    with kehu.db.transaction() as s:
        pool.update_settings(s, world.ctx("info"), values=values)


def _claim(kehu, ctx, no: str, now: datetime) -> dict:
    with kehu.db.transaction() as s:
        return pool.claim(s, ctx, archive_no=no, now=now)


def _audit(kehu, action: str) -> list:
    cols = (AuditEntry.customer_no, AuditEntry.fields, AuditEntry.actor_id, AuditEntry.detail)
    with kehu.db.reader() as s:
        return list(s.execute(select(*cols).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def test_recycling_on_a_simulated_clock(kehu, world):
    no = create_customer(kehu, as_user=world.ctx("alice"))  # normal: 30 days, warning 7 days before
    base = _customer(kehu, no).created_at
    assert [w["archive_no"] for w in _warnings(kehu, base + timedelta(days=22))] == []
    warned = _warnings(kehu, base + timedelta(days=23), owner_id=world.users["alice"])
    assert [(w["archive_no"], w["days_left"]) for w in warned] == [(no, 7)]
    assert _warnings(kehu, base + timedelta(days=23), owner_id=world.users["bob"]) == []
    assert _recycle(kehu, base + timedelta(days=29)) == []
    assert _customer(kehu, no).owner_id == world.users["alice"]
    assert _recycle(kehu, base + timedelta(days=30)) == [no]
    c = _customer(kehu, no)
    assert c.owner_id is None
    assert _recycle(kehu, base + timedelta(days=31)) == []  # idempotent
    with kehu.db.reader() as s:
        entries = list(s.execute(select(PoolEntry).where(PoolEntry.customer_id == c.id)).scalars())
        hist = s.execute(select(History).where(History.customer_id == c.id, History.field == "owner_id",
                                               History.op == "update")).scalars().all()
        assert len(entries) == 1 and entries[0].previous_owner_id == world.users["alice"]
        assert entries[0].rule_days == 30 and entries[0].claimed_at is None
        assert len(hist) == 1 and hist[0].old_value == world.users["alice"].encode() and hist[0].new_value is None
        assert "30天未跟进" in hist[0].reason and hist[0].changed_by is None
    audit = _audit(kehu, "pool.recycle")
    assert len(audit) == 1 and audit[0].customer_no == no and audit[0].fields == "customer.owner_id"
    assert audit[0].actor_id is None


def test_follow_ups_reset_the_clock_and_n_is_per_class(kehu, world, client, api):
    alice = world.ctx("alice")
    normal = create_customer(kehu, as_user=alice)
    core = create_customer(kehu, as_user=alice, importance="core")
    key = create_customer(kehu, as_user=alice, importance="key")
    followed = create_customer(kehu, as_user=alice)
    base = _customer(kehu, normal).created_at
    r = client.post(f"/api/v1/customers/{followed}/followups", headers=api("alice"), json={
        "method": "phone", "followed_at": (base + timedelta(days=20)).strftime("%Y-%m-%d %H:%M")})
    assert r.status_code == 201, r.text
    _settings(kehu, world, **{"recycle_days.key": 0})  # key customers never recycled
    assert _recycle(kehu, base + timedelta(days=30)) == [normal]
    assert _recycle(kehu, base + timedelta(days=49)) == []
    assert _recycle(kehu, base + timedelta(days=50)) == [followed]  # 30 days after the follow-up
    assert _recycle(kehu, base + timedelta(days=60)) == [core]
    assert _recycle(kehu, base + timedelta(days=400)) == []
    assert _customer(kehu, key).owner_id == world.users["alice"]


def test_claim_cap_cooldown_history_and_audit(kehu, world):
    alice, alan = world.ctx("alice"), world.ctx("alan")
    first = create_customer(kehu, as_user=alice)
    second = create_customer(kehu, as_user=alice)
    base = _customer(kehu, first).created_at
    pooled_at = base + timedelta(days=30)
    assert sorted(_recycle(kehu, pooled_at)) == sorted([first, second])
    # the previous owner is refused during the cooldown (30 days), allowed after
    with pytest.raises(Conflict) as exc:
        _claim(kehu, alice, first, pooled_at + timedelta(days=29))
    assert exc.value.code == "pool_cooldown" and "前负责人" in exc.value.message
    claimed = _claim(kehu, alice, first, pooled_at + timedelta(days=31))
    assert claimed["owner_id"] == world.users["alice"]
    with pytest.raises(NotFound):  # no longer in the pool
        _claim(kehu, alan, first, pooled_at + timedelta(days=32))
    # per-person cap
    create_customer(kehu, as_user=alan)
    _settings(kehu, world, private_cap=1)
    with pytest.raises(Conflict) as exc:
        _claim(kehu, alan, second, pooled_at + timedelta(days=1))
    assert exc.value.code == "pool_cap_reached" and "上限" in exc.value.message
    _settings(kehu, world, private_cap=2)
    _claim(kehu, alan, second, pooled_at + timedelta(days=1))
    c = _customer(kehu, second)
    assert c.owner_id == world.users["alan"] and c.department_id == world.departments["east"]
    with kehu.db.reader() as s:
        hist = s.execute(select(History).where(History.customer_id == c.id, History.field == "owner_id")
                         .order_by(History.seq)).scalars().all()
        entry = s.execute(select(PoolEntry).where(PoolEntry.customer_id == c.id)).scalar_one()
        assert [(h.old_value, h.new_value, h.changed_by) for h in hist[-2:]] == [
            (world.users["alice"].encode(), None, None), (None, world.users["alan"].encode(), world.users["alan"])]
        assert hist[-1].reason == "从公海领取" and entry.claimed_by == world.users["alan"]
    audit = _audit(kehu, "pool.claim")
    assert [a.customer_no for a in audit] == [first, second] and audit[1].actor_id == world.users["alan"]
    # a claim counts as contact: not recycled again right away
    assert second not in _recycle(kehu, pooled_at + timedelta(days=20))


def test_pool_listing_and_claim_over_the_api(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    minor = create_customer(kehu, as_user=world.ctx("alice"), id_number=None,
                            birth_date=(datetime.now().date() - timedelta(days=365 * 8)).isoformat())
    base = _customer(kehu, no).created_at
    _recycle(kehu, base + timedelta(days=30))
    assert client.get(f"/api/v1/customers/{no}", headers=api("alice")).status_code == 404  # out of her scope now
    r = client.get("/api/v1/pool", headers=api("alan"))
    assert r.status_code == 200, r.text
    items = {i["archive_no"]: i for i in r.json()["items"]}
    assert set(items) == {no, minor}
    for item in items.values():
        assert not {"mobile", "id_number", "email", "street", "birth_date", "bank_account"} & set(item)
        assert item["previous_owner_name"] == "Alice"
    assert items[no]["name"].startswith("张") and "*" not in items[no]["name"]
    assert "name" in items[minor]["_masked"]  # a minor's name is level 1: masked in the pool too
    listed = _audit(kehu, "pool.list")
    assert listed and "customer.mobile" not in (listed[0].fields or "")
    assert client.get("/api/v1/pool", headers=api("admin")).status_code == 403  # sees no customers
    r = client.post(f"/api/v1/pool/{no}/claim", headers=api("alan"))
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/customers/{no}", headers=api("alan")).status_code == 200
    r = client.post(f"/api/v1/pool/{no}/claim", headers=api("bob"))
    assert r.status_code == 404 and r.json()["code"] == "not_in_pool"


def test_settings_need_the_capability(kehu, world, client, api):
    r = client.get("/api/v1/pool/settings", headers=api("alice"))
    values = {i["key"]: i["value"] for i in r.json()["items"]}
    assert values["recycle_days.normal"] == 30 and values["visit_days.key"] == 30
    assert client.put("/api/v1/pool/settings", json={"private_cap": 5}, headers=api("head")).status_code == 403
    r = client.put("/api/v1/pool/settings", json={"private_cap": 5, "bogus": 1}, headers=api("info"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "bogus"
    r = client.put("/api/v1/pool/settings", json={"private_cap": 5, "recycle_days.core": 45}, headers=api("info"))
    assert r.status_code == 200, r.text
    values = {i["key"]: i["value"] for i in r.json()["items"]}
    assert values["private_cap"] == 5 and values["recycle_days.core"] == 45
    audit = _audit(kehu, "pool.settings")  # the refused attempt, then the change (old → new)
    assert len(audit) == 2 and "forbidden" in audit[0].detail and '"private_cap": [50, 5]' in audit[1].detail
    with pytest.raises(Forbidden), kehu.db.transaction() as s:
        pool.update_settings(s, world.ctx("alice"), values={"private_cap": 1})
    with pytest.raises(ValidationFailed), kehu.db.transaction() as s:
        pool.update_settings(s, world.ctx("info"), values={"private_cap": -1})
