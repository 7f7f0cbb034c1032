"""Export bench: a whole customer list as CSV and as Excel, next to a plain read of the same pages.

    .venv/bin/python benchmarks/bench_export.py                     # 20 000 demo customers
    .venv/bin/python benchmarks/bench_export.py --customers 100000

Builds a fresh SQLite store under a temporary directory, loads N demo customers (kehu.demo, fixed
seed), then, as the demo information manager (scope: all):
1. baseline: the same keyset pages through `customers.repository.page` (rows only: no decryption,
   no presenter, no file) — what any export has to read;
2. CSV and Excel exports of the list columns plus mobile, e-mail, street and ID number
   (`exports.service.start` + `exports.writer.stream`, chunks discarded): rows/s and the ratio;
3. the CSV export once more under tracemalloc: peak traced memory while streaming, next to the file size.
Nothing here is a test; every loop is bounded by N.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import create_engine  # noqa: E402

from kehu import demo  # noqa: E402
from kehu.access import service as access  # noqa: E402
from kehu.access.models import User  # noqa: E402
from kehu.config import Settings  # noqa: E402
from kehu.customers import repository as repo  # noqa: E402
from kehu.db import Database  # noqa: E402
from kehu.exports import service, writer  # noqa: E402
from kehu.runtime import Ctx, Kehu  # noqa: E402
from kehu.security.keyring import KeyRing  # noqa: E402
from kehu.setup import bootstrap, migrate  # noqa: E402

FIELDS = ["archive_no", "kind", "name", "mobile", "email", "street", "id_number", "province", "city", "region",
          "importance", "status", "owner_id", "department_id"]


def _ctx(kehu: Kehu, username: str) -> Ctx:
    from sqlalchemy import select

    with kehu.db.reader() as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one()
        return Ctx(kehu=kehu, principal=access.build_principal(s, user), catalog=kehu.catalog(s))


def _export(kehu: Kehu, ctx: Ctx, fmt: str, *, trace: bool = False) -> tuple[float, int, int]:
    """(seconds, bytes, peak traced bytes) of one export streamed to nowhere."""
    with kehu.db.transaction() as s:
        plan = service.start(s, ctx, fields=FIELDS, purpose="基准测试", use="operations", fmt=fmt).plan
    if trace:
        tracemalloc.start()
    t0, size = time.perf_counter(), 0
    for chunk in writer.stream(plan):
        size += len(chunk)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return elapsed, size, peak


def _baseline(kehu: Kehu, ctx: Ctx) -> tuple[float, int]:
    """(seconds, rows) of reading the same keyset pages without presenting them."""
    t0, cursor, rows = time.perf_counter(), None, 0
    while True:
        with kehu.db.reader() as s:
            page = repo.page(s, ctx.principal, where=[], sort="new", cursor=cursor, limit=writer.PAGE_SIZE)
        rows += len(page.rows)
        cursor = page.next_cursor
        if not cursor:
            return time.perf_counter() - t0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="kehu-bench-export-"))
    url = f"sqlite:///{base}/kehu.db"
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    kehu = Kehu(Settings(database_url=url, var_dir=base / "var"), keys=KeyRing.generate(), db=Database(url))
    bootstrap(kehu)
    t0 = time.perf_counter()
    demo.load_demo(kehu, n=args.customers)
    print(f"loaded {args.customers} demo customers in {time.perf_counter() - t0:.1f} s")
    ctx = _ctx(kehu, "info")
    base_s, rows = _baseline(kehu, ctx)
    print(f"baseline  read pages   {rows} rows  {base_s:7.2f} s  {rows / base_s:9.0f} rows/s")
    for fmt in ("csv", "xlsx"):
        elapsed, size, _peak = _export(kehu, ctx, fmt)
        print(f"export    {fmt:<4}         {rows} rows  {elapsed:7.2f} s  {rows / elapsed:9.0f} rows/s  "
              f"{size / 1e6:6.1f} MB  ×{elapsed / base_s:.1f} baseline")
    _elapsed, size, peak = _export(kehu, ctx, "csv", trace=True)
    print(f"memory    csv          peak traced {peak / 1e6:.1f} MB while streaming a {size / 1e6:.1f} MB file")


if __name__ == "__main__":
    main()
