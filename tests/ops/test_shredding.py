"""Crypto-shredding and backups: a deleted customer's key must not survive in old backups."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from kehu.config import Settings
from kehu.customers.models import Customer
from kehu.db import Database
from kehu.ops import backup as bk
from kehu.ops.restore import restore
from kehu.runtime import Kehu
from kehu.security.aead import DecryptionFailed
from tests.ops.conftest import plaintexts, populate, search, shred


def _runtime(url, keys, tmp_path) -> Kehu:
    return Kehu(Settings(database_url=url, var_dir=tmp_path / "other"), keys=keys, db=Database(url))


def _plain_copy(kehu, db_url: str, fresh_url: str) -> None:
    """A copy of the whole store as an ordinary backup tool would take it (wrapped keys included)."""
    if db_url.startswith("sqlite"):
        target = make_url(fresh_url).database
        import os

        os.makedirs(os.path.dirname(target), exist_ok=True)
        src, dst = sqlite3.connect(make_url(db_url).database), sqlite3.connect(target)
        src.backup(dst)
        src.close()
        dst.close()
        return
    kehu.db.engine.dispose()  # CREATE DATABASE … TEMPLATE needs the source without sessions
    name = make_url(fresh_url).database
    admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE {name}"))
        c.execute(text(f"CREATE DATABASE {name} TEMPLATE {make_url(db_url).database}"))
    admin.dispose()


def _victim_values(before: dict, cid: str, kehu) -> set:
    from kehu.catalog.registry import data_models

    with kehu.db.reader() as s:
        owned = {("customers", cid)}
        for cls in data_models().values():
            t = cls.__table__
            if "customer_id" in t.c:
                owned |= {(t.name, r) for r in s.execute(select(t.c.id).where(t.c.customer_id == cid)).scalars()}
    return {k for k in before if (k[0], k[1]) in owned}


def test_a_plain_copy_still_reads_a_shredded_customer(kehu, world, keys, db_url, fresh_url, tmp_path):
    store = populate(kehu, world, individuals=3, organisations=0)
    victim = store.archive_nos[0]
    before = plaintexts(kehu)
    _plain_copy(kehu, db_url, fresh_url)  # the "old backup"
    cid = shred(kehu, victim)
    gone = _victim_values(before, cid, kehu)
    assert gone and not gone & plaintexts(kehu).keys()  # unreadable in the live store
    old = _runtime(fresh_url, keys, tmp_path)
    try:
        readable = plaintexts(old)
        assert {k: readable[k] for k in gone} == {k: before[k] for k in gone}  # …but not in the plain copy
    finally:
        old.db.engine.dispose()


def test_an_old_kehu_backup_cannot_decrypt_a_shredded_customer(kehu, world, keys, fresh_url, tmp_path):
    store = populate(kehu, world, individuals=4, organisations=1)
    victim = store.archive_nos[1]
    before = plaintexts(kehu)
    d = tmp_path / "backups"
    old = bk.create(kehu, to=d)  # the data backup holds no wrapped key; its escrow does
    cid = shred(kehu, victim)
    gone = _victim_values(before, cid, kehu)
    bk.create(kehu, to=d)

    # while the escrow made before the deletion is still kept, the customer can be read again:
    assert restore(old.path, keys, url=fresh_url, keys_path=old.keys_path).keys_missing == 0
    bk.prune(d, bk.KEYS, 1)  # short escrow retention (KEHU_BACKUP_KEEP_KEYS) ends that window
    assert not old.keys_path.exists() and old.path.exists()

    out = restore(old.path, keys, url=fresh_url, force=True)  # newest escrow
    assert out.ok and out.keys_missing == 1 and out.keys_restored == len(store.archive_nos) - 1
    other = _runtime(fresh_url, keys, tmp_path)
    try:
        after = plaintexts(other)
        assert not gone & after.keys()
        assert after == {k: v for k, v in before.items() if k not in gone}  # everyone else intact
        with other.db.reader() as s:
            row = s.execute(select(Customer).where(Customer.id == cid)).scalar_one()
            assert row.bank_account is not None  # the ciphertext is there…
            assert row.mobile_bi is None and row.id_number_bi is None
            with pytest.raises(DecryptionFailed):
                other.crypto.unwrap(row.dek, owner=cid)  # …without any key to open it
        assert search(other, world, store.mobiles[victim]) == []
        assert search(other, world, store.id_numbers[victim]) == []
        keep = store.archive_nos[0]
        assert search(other, world, store.mobiles[keep]) == [keep]
    finally:
        other.db.engine.dispose()
