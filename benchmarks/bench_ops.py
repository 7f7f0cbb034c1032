"""Backups, restore and key rotation on a demo store (SQLite), each next to a baseline from the same run.

    .venv/bin/python benchmarks/bench_ops.py --customers 20000 --data /tmp/bench-ops

Baselines: a plain `sqlite3` online-backup copy of the same file (for backup/restore) and a plain
read of every wrapped key / indexed value (for the rotations).
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from pathlib import Path

from sqlalchemy import select

from kehu.config import Settings
from kehu.customers.models import Contact, Customer
from kehu.db import Database
from kehu.demo import load_demo
from kehu.ops import backup as bk
from kehu.ops import keys as ops_keys
from kehu.ops.restore import restore
from kehu.runtime import Kehu
from kehu.security.keyring import KeyRing
from kehu.setup import bootstrap, migrate


def _t(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--data", type=Path, default=Path("/tmp/bench-ops"))
    args = ap.parse_args()
    shutil.rmtree(args.data, ignore_errors=True)
    args.data.mkdir(parents=True)
    url = f"sqlite:///{args.data / 'kehu.db'}"
    keys = KeyRing.generate()
    settings = Settings(database_url=url, var_dir=args.data)
    keys.write(settings.resolved_key_file())
    db = Database(url)
    migrate(db.engine)
    kehu = Kehu(settings, keys=keys, db=db)
    bootstrap(kehu)
    load_demo(kehu, n=args.customers)
    size = (args.data / "kehu.db").stat().st_size

    def plain_copy():
        src, dst = sqlite3.connect(args.data / "kehu.db"), sqlite3.connect(args.data / "plain-copy.db")
        src.backup(dst)
        src.close()
        dst.close()

    base_copy, _ = _t(plain_copy)
    t_backup, result = _t(lambda: bk.create(kehu, to=args.data / "backups"))
    t_verify, _ = _t(lambda: bk.verify(result.path, keys))
    t_restore, out = _t(lambda: restore(result.path, keys, url=f"sqlite:///{args.data / 'restored' / 'kehu.db'}"))
    assert out.ok

    def read_keys():
        with kehu.db.reader() as s:
            return len(s.execute(select(Customer.id, Customer.dek)).all())

    def read_indexed():
        with kehu.db.reader() as s:
            return (len(s.execute(select(Customer.id, Customer.dek, Customer.mobile, Customer.email,
                                         Customer.id_number, Customer.mobile_bi)).all())
                    + len(s.execute(select(Contact.id, Contact.mobile, Contact.email)).all()))

    base_keys, n_keys = _t(read_keys)
    t_master, _ = _t(lambda: ops_keys.rotate(kehu, "master", batch=1000, grace=0))
    base_idx, n_idx = _t(read_indexed)
    t_blind, _ = _t(lambda: ops_keys.rotate(kehu, "blind", batch=1000, grace=0))
    t_scan, _ = _t(lambda: ops_keys.blind_counts(kehu))
    mb = size / 2**20
    print(f"store: {args.customers} customers, {mb:.1f} MiB; .kbak {result.path.stat().st_size / 2**20:.1f} MiB")
    print(f"backup        {t_backup:6.2f} s  ({mb / t_backup:5.1f} MiB/s)   plain sqlite3 copy {base_copy:5.2f} s  "
          f"ratio {t_backup / base_copy:4.1f}x")
    print(f"verify        {t_verify:6.2f} s")
    print(f"restore+check {t_restore:6.2f} s   ratio to plain copy {t_restore / base_copy:4.1f}x")
    print(f"master rotate {t_master:6.2f} s  ({n_keys / t_master:7.0f} keys/s)   plain read {base_keys:5.2f} s")
    print(f"blind rotate  {t_blind:6.2f} s  ({n_idx / t_blind:7.0f} rows/s)   plain read {base_idx:5.2f} s")
    print(f"retire check  {t_scan:6.2f} s  (blind_counts: decrypt + HMAC every indexed value)")


if __name__ == "__main__":
    main()
