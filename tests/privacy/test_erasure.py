"""Erasure of a customer: nothing readable or searchable remains, accounting records stay storage-only."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from kehu.customers.models import Customer, History
from kehu.orders.models import Order, Payment
from kehu.ops import backup as bk
from kehu.ops.restore import restore
from kehu.security.aead import DecryptionFailed
from kehu.security.crypto import NO_KEY
from tests.conftest import _pg_bin
from tests.ops.conftest import plaintexts, search
from tests.privacy.conftest import destroy, make_rich


def _store_bytes(kehu, db_url: str, tmp_path: Path) -> bytes:
    """Every byte the store keeps: the SQLite file and its WAL, or a plain pg_dump of the database."""
    if db_url.startswith("sqlite"):
        path = make_url(db_url).database
        return b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
    url = make_url(db_url)
    out = tmp_path / "dump.sql"
    env = {"PGPASSWORD": url.password or "", "PATH": "/usr/bin:/bin"}
    subprocess.run([_pg_bin("pg_dump"), "-h", url.host, "-p", str(url.port), "-U", url.username, "-f", str(out),
                    url.database], check=True, env=env)
    return out.read_bytes()


def test_after_erasure_no_plaintext_or_searchable_trace_remains(kehu, world, info2, client, api, db_url, tmp_path):
    victim = make_rich(kehu, world, name="欧阳娜娜", n=7)
    keep = make_rich(kehu, world, name="司马相如", n=8)
    record = destroy(kehu, world, victim.archive_no)
    assert record["status"] == "executed" and record["approved_by"] == "Info2"
    assert {"entity": "order", "method": "storage_only", "count": 1, "class": "archive"} in record["summary"]["items"]
    data = _store_bytes(kehu, db_url, tmp_path)
    for key, value in victim.secrets.items():
        assert value.encode() not in data, key
    assert keep.secrets["name"].encode() in data  # the scan does see plaintext that is still held
    # the API answers 404, exact search finds nothing, the archive number stays taken
    r = client.get(f"/api/v1/customers/{victim.archive_no}", headers=api("info"))
    assert r.status_code == 404
    for q in ("mobile", "id_number", "email"):
        assert search(kehu, world, victim.secrets[q]) == []
    assert search(kehu, world, keep.secrets["mobile"]) == [keep.archive_no]
    from tests.fixtures.world import create_customer

    assert create_customer(kehu, as_user=world.ctx("info")) > keep.archive_no > victim.archive_no  # never reused
    with kehu.db.reader() as s:
        tomb = s.execute(select(Customer).where(Customer.archive_no == victim.archive_no)).scalar_one()
        assert tomb.dek == NO_KEY and tomb.status == "erased" and tomb.mobile_bi is None and tomb.name == "已删除"
        assert s.execute(select(History).where(History.customer_id == tomb.id)).first() is None
        order = s.execute(select(Order).where(Order.customer_id == tomb.id)).scalar_one()
        assert order.total_amount == 10000 and order.signer is None  # 会计档案: amounts kept, person erased
        payment = s.execute(select(Payment).where(Payment.order_id == order.id)).scalar_one()
        assert payment.amount == 10000 and payment.account is None
    assert client.get(f"/api/v1/orders/{victim.order_no}", headers=api("info")).status_code == 404
    from kehu.audit.models import AuditEntry

    with kehu.db.reader() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).scalar_one()
        assert entry.customer_no == victim.archive_no and "customer.id_number" in entry.fields.split(",")


def test_an_old_backup_with_current_keys_cannot_read_the_erased_customer(kehu, world, info2, keys, fresh_url,
                                                                         tmp_path):
    from kehu.config import Settings
    from kehu.db import Database
    from kehu.runtime import Kehu

    victim = make_rich(kehu, world, name="欧阳娜娜", n=7)
    keep = make_rich(kehu, world, name="司马相如", n=8)
    d = tmp_path / "backups"
    old = bk.create(kehu, to=d)  # taken before the deletion
    destroy(kehu, world, victim.archive_no)
    bk.create(kehu, to=d)
    bk.prune(d, bk.KEYS, 1)  # escrow retention: only the newest key escrow (made after the deletion) is kept
    out = restore(old.path, keys, url=fresh_url, force=True)
    assert out.ok and out.keys_missing == 1
    other = Kehu(Settings(database_url=fresh_url, var_dir=tmp_path / "o"), keys=keys, db=Database(fresh_url))
    try:
        values = set(plaintexts(other).values())
        assert keep.secrets["bank_account"] in values
        assert not {victim.secrets[k] for k in ("bank_account", "id_number", "mobile", "allergies")} & values
        with other.db.reader() as s:
            row = s.execute(select(Customer).where(Customer.archive_no == victim.archive_no)).scalar_one()
            assert row.bank_account is not None  # the old ciphertext is in the old backup…
            with pytest.raises(DecryptionFailed):
                other.crypto.unwrap(row.dek, owner=row.id)  # …with no key anywhere to open it
    finally:
        other.db.engine.dispose()


def test_erasure_is_refused_under_a_legal_hold(kehu, world, info2):
    from datetime import date

    from kehu.privacy import retention

    victim = make_rich(kehu, world, n=9)
    with kehu.db.transaction() as s:
        hold = retention.place_hold(s, world.ctx("info"), customer_no=victim.archive_no, reason="诉讼保全")
        hold_id = hold.id
    record = destroy(kehu, world, victim.archive_no)
    assert record["summary"]["skipped"] == [victim.archive_no] and record["summary"]["items"] == []
    with kehu.db.reader() as s:
        assert s.execute(select(Customer.status).where(Customer.archive_no == victim.archive_no)).scalar_one() == "active"
    with kehu.db.transaction() as s:
        retention.lift_hold(s, world.ctx("info"), hold_id=hold_id, reason="诉讼结束")
    record = destroy(kehu, world, victim.archive_no)
    assert not record["summary"]["skipped"]
    with kehu.db.reader() as s:
        assert s.execute(select(Customer.status).where(Customer.archive_no == victim.archive_no)).scalar_one() == "erased"
    assert date  # noqa


def test_destruction_needs_a_second_person(kehu, world, info2):
    from datetime import date

    from kehu.approvals import service as approvals
    from kehu.errors import Forbidden, NotFound
    from kehu.privacy import retention

    victim = make_rich(kehu, world, n=10)
    with kehu.db.transaction() as s:
        did = retention.request_archive(s, world.ctx("info"), customer_no=victim.archive_no, reason="客户要求").id
        aid = retention._load(s, did).approval_id
    with pytest.raises(Forbidden) as err, kehu.db.transaction() as s:  # not approved yet
        retention.execute(s, world.ctx("info"), destruction_id=did, today=date(2026, 11, 22))
    assert err.value.code == "approval_pending"
    with pytest.raises(Forbidden) as err, kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info"), approval_id=aid, approve=True, reason=None)
    assert err.value.code == "self_approval"
    with pytest.raises(NotFound), kehu.db.transaction() as s:  # staff hold no approval capability
        approvals.decide(s, world.ctx("alice"), approval_id=aid, approve=True, reason=None)
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=aid, approve=False, reason="依法需保留")
    with pytest.raises(Forbidden) as err, kehu.db.transaction() as s:
        retention.execute(s, world.ctx("info"), destruction_id=did, today=date(2026, 11, 22))
    assert err.value.code == "approval_rejected"
    with kehu.db.reader() as s:
        assert s.execute(select(Customer.status).where(Customer.archive_no == victim.archive_no)).scalar_one() == "active"
