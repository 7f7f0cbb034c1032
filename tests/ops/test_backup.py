"""Encrypted backups: round trip on both engines, tamper detection, refusal to overwrite, scheduling."""
from __future__ import annotations

import time

import pytest

from kehu.config import Settings
from kehu.db import Database
from kehu.ops import backup as bk
from kehu.ops.container import BackupInvalid, SealedReader
from kehu.ops.restore import TargetNotEmpty, restore
from kehu.ops.schedule import BackupSchedule
from kehu.runtime import Kehu
from tests.ops.conftest import dump_tables, plaintexts, populate, search


def _restored_runtime(url, keys, tmp_path) -> Kehu:
    return Kehu(Settings(database_url=url, var_dir=tmp_path / "var2"), keys=keys, db=Database(url))


def test_round_trip_preserves_every_record_and_the_audit_chain(kehu, world, keys, db_url, fresh_url, tmp_path):
    store = populate(kehu, world)
    before = plaintexts(kehu)
    result = bk.create(kehu, to=tmp_path / "backups")
    m = result.manifest
    assert m["engine"] == kehu.db.dialect and m["alembic_revision"] and m["kehu_version"]
    assert m["counts"]["customers"] == len(store.archive_nos) and m["audit_head"]["seq"] > 0
    assert len(m["payload_sha256"]) == 64
    assert bk.verify(result.path, keys)["payload_sha256"] == m["payload_sha256"]

    out = restore(result.path, keys, url=fresh_url)
    assert out.ok, (out.count_mismatches, out.audit_problem)
    assert out.keys_restored == len(store.archive_nos) and out.keys_missing == 0
    assert out.audit_checked == m["audit_head"]["seq"]

    live, back = dump_tables(db_url, skip=("audit_log", "audit_head")), dump_tables(fresh_url, skip=("audit_log", "audit_head"))
    assert live.keys() == back.keys()
    for table in live:
        assert live[table] == back[table], table
    head = m["audit_head"]["seq"]
    live_log = [r for r in dump_tables(db_url)["audit_log"] if r[0] <= head]
    back_log = dump_tables(fresh_url)["audit_log"]
    assert [r for r in back_log if r[0] <= head] == live_log
    assert any("ops.restore" in r for r in back_log if r[0] > head)  # the restore itself is chained

    other = _restored_runtime(fresh_url, keys, tmp_path)
    try:
        assert plaintexts(other) == before
        from kehu.audit.chain import verify

        with other.db.reader() as s:
            assert verify(s, other.audit).ok
        no = store.archive_nos[0]
        assert search(other, world, store.mobiles[no]) == [no]
    finally:
        other.db.engine.dispose()


def test_backup_holds_no_wrapped_data_key(kehu, world, keys, tmp_path):
    populate(kehu, world, individuals=3, organisations=1)
    from sqlalchemy import select

    from kehu.customers.models import Customer

    with kehu.db.reader() as s:
        deks = [bytes(d) for d in s.execute(select(Customer.dek)).scalars()]
    result = bk.create(kehu, to=tmp_path / "b")
    with open(result.path, "rb") as fh:
        payload = SealedReader(fh, keys=keys.backup).read()
    for d in deks:
        assert d not in payload and d.hex().encode() not in payload
    keys_in_escrow, manifest = bk.read_keys(result.keys_path, keys)
    assert sorted(keys_in_escrow.values()) == sorted(deks) and manifest["master_keys"] == ["m1"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "drop_manifest"])
def test_tampered_backup_is_refused(kehu, world, keys, tmp_path, fresh_url, damage):
    populate(kehu, world, individuals=2, organisations=0)
    result = bk.create(kehu, to=tmp_path / "b")
    raw = bytearray(result.path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x01
    elif damage == "truncate":
        raw = raw[: len(raw) - 100]
    else:  # remove the final record (the manifest): framing stays valid, the last-flag check fails
        import struct

        pos, last = 8 + 4 + struct.unpack(">I", raw[8:12])[0], None
        while pos < len(raw):
            last = pos
            pos += 4 + struct.unpack(">I", raw[pos:pos + 4])[0]
        raw = raw[:last]
    result.path.write_bytes(bytes(raw))
    result.path.with_name(result.path.name + ".sha256").unlink()  # the AEAD alone must catch it
    with pytest.raises(BackupInvalid):
        bk.verify(result.path, keys)
    with pytest.raises(BackupInvalid):
        restore(result.path, keys, url=fresh_url)


def test_checksum_sidecar_catches_a_changed_file(kehu, world, keys, tmp_path):
    result = bk.create(kehu, to=tmp_path / "b")
    raw = bytearray(result.path.read_bytes())
    raw[-5] ^= 0x80
    result.path.write_bytes(bytes(raw))
    with pytest.raises(BackupInvalid, match="SHA-256"):
        bk.verify(result.path, keys)


def test_wrong_backup_key_is_refused(kehu, world, tmp_path):
    from kehu.security.keyring import KeyRing

    result = bk.create(kehu, to=tmp_path / "b")
    with pytest.raises(BackupInvalid):
        bk.verify(result.path, KeyRing.generate())


def test_restore_refuses_a_non_empty_target(kehu, world, keys, db_url, fresh_url, tmp_path):
    populate(kehu, world, individuals=1, organisations=0)
    result = bk.create(kehu, to=tmp_path / "b")
    with pytest.raises(TargetNotEmpty):
        restore(result.path, keys, url=db_url)  # the live store
    assert restore(result.path, keys, url=fresh_url).ok
    with pytest.raises(TargetNotEmpty):
        restore(result.path, keys, url=fresh_url)
    assert restore(result.path, keys, url=fresh_url, force=True).ok


def test_retention_keeps_the_newest(kehu, world, tmp_path):
    d = tmp_path / "b"
    for _ in range(3):
        bk.create(kehu, to=d, keep=2, keep_keys=1)
    assert len(bk.backups(d, bk.DATA)) == 2 and len(bk.backups(d, bk.KEYS)) == 1
    assert len(list(d.glob("*.sha256"))) == 3


def test_scheduled_backup_runs_in_the_background(kehu, world, tmp_path):
    d = tmp_path / "sched"
    schedule = BackupSchedule(kehu, interval=3600, directory=d, keep=3, keep_keys=1).start()
    try:
        deadline = time.monotonic() + 60
        while not bk.backups(d, bk.DATA) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(bk.backups(d, bk.DATA)) == 1
        assert 3000 < schedule.due_in() <= 3600  # next one an interval after the newest
    finally:
        schedule.stop()


def test_restore_needs_the_master_key_of_the_escrow(kehu, world, keys, fresh_url, tmp_path):
    from kehu.ops.snapshot import OpsFailed

    populate(kehu, world, individuals=1, organisations=0)
    result = bk.create(kehu, to=tmp_path / "b")
    other, _ = keys.with_new_key("master")
    without_m1 = other.without("m1")
    with pytest.raises(OpsFailed, match="m1"):
        restore(result.path, without_m1, url=fresh_url)


def test_a_key_file_without_backup_key_is_told_how_to_add_one(kehu, keys, tmp_path):
    from dataclasses import replace

    from kehu.ops.snapshot import OpsFailed

    kehu.crypto.ring = replace(keys, backup={}, backup_active=None)
    with pytest.raises(OpsFailed, match="kehu keys rotate --backup"):
        bk.create(kehu, to=tmp_path / "b")


def test_backup_is_consistent_while_customers_are_being_written(kehu, world, keys, fresh_url, tmp_path):
    import threading

    from kehu.customers import service
    from tests.fixtures.world import customer_data

    populate(kehu, world, individuals=2, organisations=0)
    stop, written, errors = threading.Event(), [], []
    ctx = world.ctx("info")

    def writer():
        while not stop.is_set():
            try:
                with kehu.db.transaction() as s:
                    no = service.create(s, ctx, data=customer_data(), reason="并发").archive_no
                written.append(no)  # counted once committed
            except Exception as exc:  # noqa: BLE001 — reported below
                errors.append(exc)
                return

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 3:
            time.sleep(0.01)
        result = bk.create(kehu, to=tmp_path / "b")
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert 2 + 3 <= result.manifest["counts"]["customers"] <= 2 + len(written)  # a state between the writes
    out = restore(result.path, keys, url=fresh_url)
    # counts, audit head and keys all come from the same snapshot: everything checks out
    assert out.ok, (out.count_mismatches, out.audit_problem)
    assert out.keys_missing == 0 and out.keys_restored == result.manifest["counts"]["customers"]
