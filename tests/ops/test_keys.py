"""Online key rotation: every value stays readable, exact search keeps working, old keys retire cleanly."""
from __future__ import annotations

import base64
import json
import stat

import pytest
from sqlalchemy import select

from kehu.config import Settings
from kehu.customers import service
from kehu.customers.models import Contact, Customer
from kehu.db import Database
from kehu.errors import KehuError
from kehu.ops import backup as bk
from kehu.ops import keys as ops_keys
from kehu.runtime import Kehu
from kehu.security.keyring import KeyFileWatch
from tests.fixtures.world import customer_data
from tests.ops.conftest import plaintexts, populate, search


class Stop(Exception):
    """Injected failure in the middle of a rotation."""


def _interrupt_after(n: int):
    seen = {"batches": 0}

    def hook(_rows):
        seen["batches"] += 1
        if seen["batches"] >= n:
            raise Stop()
    return hook


def _all_found(kehu, world, store) -> None:
    for no, mobile in store.mobiles.items():
        assert no in search(kehu, world, mobile), (no, "mobile")
    for no, idn in store.id_numbers.items():
        assert search(kehu, world, idn) == [no]
    for no, mobile in store.contact_mobiles.items():
        assert search(kehu, world, mobile) == [no]


def _file(path) -> dict:
    return json.loads(path.read_text())


def test_master_rotation_rewraps_every_key_and_retires_the_old_one(kehu, world, keys, key_file):
    store = populate(kehu, world)
    before = plaintexts(kehu)
    old_master = keys.master["m1"]
    out = ops_keys.rotate(kehu, "master", batch=3, grace=0)
    assert out["new_key"] == "m2" and out["rows"] == len(store.archive_nos)
    assert plaintexts(kehu) == before
    counts = ops_keys.master_counts(kehu)
    assert counts["m1"] == 0 and counts["m2"] == len(store.archive_nos)
    with kehu.db.reader() as s:
        assert all(d.startswith(ops_keys.prefix("m2")) for d in s.execute(select(Customer.dek)).scalars())
    ops_keys.retire(kehu, "m1")
    data = _file(key_file)
    assert set(data["master"]["keys"]) == {"m2"} and "m1" in data["retired"]
    assert base64.b64encode(old_master).decode() not in key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert plaintexts(kehu) == before
    _all_found(kehu, world, store)
    ring, kid = kehu.crypto.ring.with_new_key("master")
    assert kid == "m3"  # a retired id is never reused


def test_retire_is_refused_while_referenced(kehu, world, keys, key_file):
    populate(kehu, world, individuals=2, organisations=0)
    ops_keys.start(kehu, "master")  # new key active, nothing re-wrapped yet
    with pytest.raises(ops_keys.KeyInUse):
        ops_keys.retire(kehu, "m1")
    with pytest.raises(ops_keys.KeyInUse):
        ops_keys.retire(kehu, "m2")  # the active key
    assert "m1" in _file(key_file)["master"]["keys"]


def test_master_rotation_interrupted_then_resumed(kehu, world, keys, key_file):
    store = populate(kehu, world)
    before = plaintexts(kehu)
    with pytest.raises(Stop):
        ops_keys.rotate(kehu, "master", batch=2, grace=0, on_batch=_interrupt_after(1))
    counts = ops_keys.master_counts(kehu)
    assert counts["m1"] > 0 and counts["m2"] > 0  # half done
    assert plaintexts(kehu) == before  # every value readable midway
    _all_found(kehu, world, store)
    with pytest.raises(ops_keys.KeyInUse):
        ops_keys.retire(kehu, "m1")
    out = ops_keys.rotate(kehu, "master", batch=2, grace=0)
    assert out["resumed"] and out["new_key"] == "m2"  # no third key
    assert ops_keys.master_counts(kehu)["m1"] == 0
    ops_keys.retire(kehu, "m1")
    assert plaintexts(kehu) == before


def test_blind_index_rotation_keeps_exact_search_working(kehu, world, keys, key_file):
    store = populate(kehu, world)
    before = plaintexts(kehu)
    with kehu.db.reader() as s:
        old_digests = set(s.execute(select(Customer.mobile_bi)).scalars()) | set(
            s.execute(select(Contact.mobile_bi)).scalars())
    with pytest.raises(Stop):
        ops_keys.rotate(kehu, "blind", batch=2, grace=0, on_batch=_interrupt_after(2))
    counts = ops_keys.blind_counts(kehu)
    assert counts["b1"] > 0 and counts["b2"] > 0 and counts["stale"] == 0  # a mix of both keys
    _all_found(kehu, world, store)  # during the rotation
    existing = store.mobiles[store.archive_nos[-1]]  # recomputed or not: still a duplicate
    with kehu.db.transaction() as s, pytest.raises(KehuError) as err:
        service.create(s, world.ctx("info"), data=customer_data(mobile=existing), reason="重复")
    assert err.value.code == "duplicate"
    with pytest.raises(ops_keys.KeyInUse):
        ops_keys.retire(kehu, "b1")
    assert ops_keys.rotate(kehu, "blind", batch=2, grace=0)["resumed"]
    counts = ops_keys.blind_counts(kehu)
    assert counts["b1"] == 0 and counts["stale"] == 0
    ops_keys.retire(kehu, "b1")
    assert set(_file(key_file)["blind"]["keys"]) == {"b2"} and len(kehu.crypto.ring.blind) == 1
    with kehu.db.reader() as s:
        new_digests = set(s.execute(select(Customer.mobile_bi)).scalars()) | set(
            s.execute(select(Contact.mobile_bi)).scalars())
    assert not (old_digests - {None}) & new_digests  # no digest under the retired key remains
    _all_found(kehu, world, store)  # after the rotation, with one key
    assert plaintexts(kehu) == before


def test_a_running_server_follows_the_rotation(kehu, world, keys, key_file, db_url, tmp_path):
    store = populate(kehu, world, individuals=3, organisations=1)
    server = Kehu(Settings(database_url=db_url, var_dir=tmp_path / "srv"), keys=keys, db=Database(db_url))
    server.crypto.follow(KeyFileWatch(key_file, interval=0))
    try:
        before = plaintexts(server)
        ops_keys.rotate(kehu, "master", batch=2, grace=0)  # another process (the CLI) rotates
        ops_keys.rotate(kehu, "blind", batch=2, grace=0)
        ops_keys.retire(kehu, "m1")
        ops_keys.retire(kehu, "b1")
        assert plaintexts(server) == before  # the server reloaded the key file
        assert server.crypto.ring.master_active == "m2" and set(server.crypto.ring.blind) == {"b2"}
        _all_found(server, world, store)
    finally:
        server.db.engine.dispose()


def test_retire_master_waits_for_a_backup_after_the_rotation(kehu, world, keys, key_file, tmp_path):
    populate(kehu, world, individuals=2, organisations=0)
    d = tmp_path / "b"
    bk.create(kehu, to=d)  # its key escrow wraps with m1
    ops_keys.rotate(kehu, "master", grace=0)
    with pytest.raises(ops_keys.KeyInUse, match="kehu backup"):
        ops_keys.retire(kehu, "m1", backup_dir=d)
    bk.create(kehu, to=d)
    ops_keys.retire(kehu, "m1", backup_dir=d)


def test_backup_key_rotation_and_retirement(kehu, world, keys, key_file, tmp_path):
    d = tmp_path / "b"
    old = bk.create(kehu, to=d, keep_keys=1)
    assert ops_keys.rotate(kehu, "backup", grace=0)["new_key"] == "k2"
    new = bk.create(kehu, to=d, keep_keys=1)
    with pytest.raises(ops_keys.KeyInUse):
        ops_keys.retire(kehu, "k1", backup_dir=d)  # the old data backup needs it
    assert bk.verify(new.path, kehu.crypto.ring) and bk.verify(old.path, kehu.crypto.ring)
    old.path.unlink()
    ops_keys.retire(kehu, "k1", backup_dir=d)
    assert set(_file(key_file)["backup"]["keys"]) == {"k2"}


def test_rotation_needs_a_key_file(kehu, keys):
    kehu.settings = Settings(database_url=kehu.db.url, var_dir=kehu.settings.var_dir, keys=keys.to_json())
    with pytest.raises(KehuError, match="KEHU_KEYS"):
        ops_keys.rotate(kehu, "master", grace=0)
