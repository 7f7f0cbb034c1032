"""Privacy operations on a demo store (SQLite), each next to a baseline from the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_privacy.py --customers 5000 --data /tmp/bench-privacy

- subject copy of one customer (every catalogued entity through its link) vs reading its archive page data;
- erasure of one customer (request, second-person approval, execution with WAL truncation) vs one update;
- retention dry run over the whole store vs a plain count of the ended customers.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import time
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import func, select, update

from kehu.access import service as access
from kehu.access.models import User
from kehu.approvals import service as approvals
from kehu.config import Settings
from kehu.customers import service as customers
from kehu.customers.models import Customer
from kehu.db import Database
from kehu.demo import load_demo
from kehu.privacy import copy, retention
from kehu.runtime import Ctx, Kehu
from kehu.security.keyring import KeyRing
from kehu.setup import bootstrap, migrate


def _ctx(kehu: Kehu, username: str) -> Ctx:
    with kehu.db.reader() as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one()
        return Ctx(kehu=kehu, principal=access.build_principal(s, user), catalog=kehu.catalog(s))


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--data", type=Path, default=Path("/tmp/bench-privacy"))
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    shutil.rmtree(args.data, ignore_errors=True)
    args.data.mkdir(parents=True)
    url = f"sqlite:///{args.data / 'kehu.db'}"
    keys = KeyRing.generate()
    db = Database(url)
    migrate(db.engine)
    kehu = Kehu(Settings(database_url=url, var_dir=args.data), keys=keys, db=db)
    bootstrap(kehu)
    load_demo(kehu, n=args.customers)
    with kehu.db.transaction() as s:
        dept = s.execute(select(User.department_id).where(User.username == "info")).scalar_one()
        access.create_user(s, None, username="info2", display_name="Info2", password="Bench-pass-2026",
                           role_code="info_manager", department_id=dept)
    info, info2 = _ctx(kehu, "info"), _ctx(kehu, "info2")
    with kehu.db.reader() as s:
        nos = list(s.execute(select(Customer.archive_no).order_by(Customer.id).limit(args.rounds * 2)).scalars())

    t_copy, t_get, t_erase, t_update = [], [], [], []
    for no in nos[:args.rounds]:
        start = time.perf_counter()
        with kehu.db.transaction() as s:
            customers.get(s, info, archive_no=no)
        t_get.append(time.perf_counter() - start)
        start = time.perf_counter()
        with kehu.db.transaction() as s:
            copy.to_xlsx(copy.build(s, info, customer_no=no))
        t_copy.append(time.perf_counter() - start)
    for no in nos[args.rounds:]:
        start = time.perf_counter()
        with kehu.db.transaction() as s:
            customers.update(s, info, archive_no=no, data={"notes": "基准测试"}, reason="基准测试")
        t_update.append(time.perf_counter() - start)
        start = time.perf_counter()
        with kehu.db.transaction() as s:
            d = retention.request_archive(s, info, customer_no=no, reason="基准测试")
            did, aid = d.id, d.approval_id
        with kehu.db.transaction() as s:
            approvals.decide(s, info2, approval_id=aid, approve=True, reason=None)
        with kehu.db.transaction() as s:
            retention.execute(s, info, destruction_id=did, today=date.today())
        t_erase.append(time.perf_counter() - start)

    with kehu.db.transaction() as s:
        s.execute(update(Customer).where(Customer.status != "erased").values(
            status="inactive", created_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    start = time.perf_counter()
    with kehu.db.reader() as s:
        n_base = s.execute(select(func.count()).select_from(Customer).where(Customer.status == "inactive")).scalar_one()
    base_dry = time.perf_counter() - start
    start = time.perf_counter()
    with kehu.db.transaction() as s:
        dry = retention.dry_run(s, info, today=date.today())
    t_dry = time.perf_counter() - start

    print(f"store: {args.customers} demo customers (SQLite)")
    print(f"subject copy (JSON+Excel): {_ms(t_copy)}  | baseline archive read: {_ms(t_get)}  "
          f"| ratio {statistics.median(t_copy) / statistics.median(t_get):.1f}")
    print(f"erasure (request+approve+execute): {_ms(t_erase)}  | baseline one update: {_ms(t_update)}  "
          f"| ratio {statistics.median(t_erase) / statistics.median(t_update):.1f}")
    print(f"retention dry run ({dry['customers']} due): {t_dry:.2f} s  | baseline count ({n_base}): "
          f"{base_dry * 1000:.1f} ms")


if __name__ == "__main__":
    main()
