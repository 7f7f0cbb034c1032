"""Import bench: N generated customers from a CSV through the real import path, next to a plain executemany.

    nice -n 10 .venv/bin/python benchmarks/bench_import.py --rows 1000000      # the RESULTS.md run
    nice -n 10 .venv/bin/python benchmarks/bench_import.py --rows 50000        # quick check

1. Writes a CSV with Chinese headers (UTF-8 with BOM) from `kehu.demo`'s fixed word pools and fast
   generator (valid 身份证号 / 统一社会信用代码 checksums, unique mobiles and e-mails, addresses; an
   organisation's first contact person as 联系人 columns).
2. Baseline: the same rows, as plain text, inserted with the driver's executemany into copies of the
   `customers` and `contacts` tables (same columns and indexes) in the same store, 2,000 rows per
   transaction.
3. Import: `kehu.imports.service.start` + `kehu.imports.runner.commit` — exactly what `kehu import`
   runs: catalogue validation, archive rules, rights and scope, exact-duplicate check (blind indexes
   against the store and the file), encryption with a data key per customer, blind indexes, pinyin
   keys, archive numbers, history, audit, the job checkpoint committed with every chunk.

Prints rows/s of both, the ratio of times, and the peak RSS of this process and its children.
The store is a fresh SQLite file under benchmarks/data/ (git-ignored), or `--url` (PostgreSQL).
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import sys
import time
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from sqlalchemy import Column, Index, MetaData, Table, insert  # noqa: E402

from kehu import demo  # noqa: E402
from kehu.access import service as access  # noqa: E402
from kehu.config import Settings  # noqa: E402
from kehu.customers.models import Contact, Customer  # noqa: E402
from kehu.db import Database, utcnow  # noqa: E402
from kehu.imports import reading, runner, service  # noqa: E402
from kehu.kit.ids import new_id  # noqa: E402
from kehu.runtime import Kehu  # noqa: E402
from kehu.security.keyring import KeyRing  # noqa: E402
from kehu.setup import bootstrap, migrate  # noqa: E402

FIELDS = ["kind", "name", "gender", "birth_date", "id_number", "uscc", "mobile", "landline", "email", "province",
          "city", "district", "street", "postcode", "occupation", "company", "industry", "region", "source_channel",
          "importance", "main_business", "registered_capital", "headcount", "operating_status", "room_preference",
          "dining_habits", "notes"]
CONTACT = ["name", "title", "mobile", "email"]


def write_csv(path: Path, n: int, seed: int) -> None:
    """N demo rows as a CSV with the catalogue's Chinese labels as headers."""
    from kehu.catalog.registry import build_catalog

    cat = build_catalog({})
    header = [cat.get("customer", f).label for f in FIELDS] + ["联系人", "联系人职务", "联系人手机", "联系人邮箱"]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in demo.generate(n, seed=seed):
            contact = (row.get("contacts") or [{}])[0]
            w.writerow([row.get(f, "") for f in FIELDS] + [contact.get(f, "") for f in CONTACT])


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident set size (MiB) of this process and of its (waited-for) children."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def _raw(value):
    """A value as the driver takes it without SQLAlchemy (times and dates as ISO text, as Kehu stores them)."""
    return value.isoformat(" ") if isinstance(value, datetime) else value.isoformat() if isinstance(value, date) \
        else value


def plain_insert(kehu: Kehu, path: Path, chunk: int = 2000, *, raw: bool = False) -> tuple[int, float]:
    """The baseline: the same rows as plain values into same-shaped tables, executemany per chunk.

    `raw`: the DB-API driver's own `executemany` (no SQLAlchemy bind processing) — the floor of what any
    insert of these rows into this engine can reach on this machine."""
    tables = {}
    meta = MetaData()
    for model in (Customer, Contact):
        src = model.__table__
        copy = Table(f"plain_{src.name}", meta,
                     *[Column(c.name, c.type, primary_key=c.primary_key, unique=c.unique) for c in src.columns])
        for ix in src.indexes:  # the same indexes: the same work per row for the storage engine
            Index(f"plain_{ix.name}", *[copy.c[c.name] for c in ix.columns], unique=ix.unique)
        tables[model] = copy
    meta.drop_all(kehu.db.engine)
    meta.create_all(kehu.db.engine)
    now = utcnow()
    start = time.perf_counter()
    n = 0
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch, contacts = [], []

        def flush():
            if raw:
                dbapi = kehu.db.engine.raw_connection()
                try:
                    cur = dbapi.cursor()
                    if kehu.db.dialect == "sqlite":  # Kehu's SQLite connections are in autocommit mode: one
                        cur.execute("BEGIN")         # transaction per chunk, as the other two paths
                    for model, rows in ((Customer, batch), (Contact, contacts)):
                        if rows:
                            cols = [c.name for c in tables[model].columns]
                            marks = ", ".join("%s" if kehu.db.dialect != "sqlite" else "?" for _ in cols)
                            cur.executemany(f"INSERT INTO {tables[model].name} ({', '.join(cols)}) VALUES ({marks})",
                                            [tuple(_raw(r.get(c)) for c in cols) for r in rows])
                    dbapi.commit()
                finally:
                    dbapi.close()
            else:
                with kehu.db.engine.begin() as conn:
                    conn.execute(insert(tables[Customer]), batch)
                    if contacts:
                        conn.execute(insert(tables[Contact]), contacts)
            batch.clear()
            contacts.clear()

        for cells in reader:
            cid = new_id()
            values = dict(zip(FIELDS, cells))
            row = {"id": cid, "archive_no": f"P{n:012d}", "created_at": now, "updated_at": now, "version": 1,
                   "dek": b"\0" * 60, "importance": values.pop("importance") or "normal", "status": "active"}
            for key, value in values.items():
                if value == "":
                    row[key] = None
                elif key in ("id_number", "mobile", "landline", "email", "street"):
                    row[key] = value.encode()
                elif key in ("birth_date",):
                    row[key] = date.fromisoformat(value)
                elif key in ("headcount",):
                    row[key] = int(value)
                else:
                    row[key] = value
            batch.append(row)
            if cells[len(FIELDS)]:
                contacts.append({"id": new_id(), "customer_id": cid, "name": cells[len(FIELDS)],
                                 "title": cells[len(FIELDS) + 1] or None, "mobile": cells[len(FIELDS) + 2].encode(),
                                 "email": (cells[len(FIELDS) + 3] or "").encode() or None, "is_primary": "yes"})
            n += 1
            if len(batch) >= chunk:
                flush()
        if batch:
            flush()
    return n, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
    ap.add_argument("--data", type=Path, default=HERE / "data" / "import")
    ap.add_argument("--url", help="store URL (default: a fresh SQLite file under --data)")
    ap.add_argument("--chunk", type=int, default=runner.CHUNK)
    ap.add_argument("--workers", type=int, default=None, help="validation/encryption processes (default: cores)")
    ap.add_argument("--profile", action="store_true", help="py-spy style breakdown with pyinstrument")
    ap.add_argument("--baselines-only", action="store_true", help="measure the two plain inserts and stop")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    csv_path = args.data / f"customers-{args.rows}-{args.seed}.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        write_csv(csv_path, args.rows, args.seed)
        print(f"CSV: {args.rows:,} rows, {csv_path.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.1f} s")
    url = args.url
    if not url:
        db_file = args.data / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db_file}"
    db = Database(url)
    migrate(db.engine)
    kehu = Kehu(Settings(database_url=url, var_dir=args.data / "var"), keys=KeyRing.generate(), db=db)
    bootstrap(kehu)
    with kehu.db.transaction() as s:
        dept = access.create_department(s, None, name="总公司")
        s.flush()
        user = access.create_user(s, None, username="importer", display_name="导入员", password="Bench-import-2026",
                                  role_code="info_manager", department_id=dept.id)
        user_id = user.id

    cpu = time.process_time()
    rows, plain_s = plain_insert(kehu, csv_path, args.chunk)
    plain_cpu = time.process_time() - cpu
    print(f"plain executemany: {rows:,} rows in {plain_s:.1f} s = {rows / plain_s:,.0f} rows/s")
    _rows, raw_s = plain_insert(kehu, csv_path, args.chunk, raw=True)
    print(f"raw driver executemany (floor): {rows:,} rows in {raw_s:.1f} s = {rows / raw_s:,.0f} rows/s")
    if args.baselines_only:
        return

    opener = lambda: open(csv_path, "rb")  # noqa: E731
    from kehu.imports.parallel import workers_wanted

    workers = workers_wanted() if args.workers is None else args.workers
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    start = time.perf_counter()
    with open(csv_path, "rb") as fh:
        digest = reading.content_hash(fh)
    basis = service.Basis(purposes=("service", "contract"), purpose="基准测试", scope="生成数据", channel="import",
                          notice_version="1.0", sensitive_consent=True)
    with kehu.db.transaction() as s:
        job, _ = service.start(s, runner.context(kehu, s, user_id), file_name=csv_path.name, open_bytes=opener,
                               file_hash=digest, basis=basis)
        job_id = job.id
    cpu0 = time.process_time()
    result = runner.commit(kehu, user_id=user_id, job_id=job_id, open_bytes=opener, chunk=args.chunk, workers=workers)
    import_s = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    main_cpu, worker_cpu = time.process_time() - cpu0, children.ru_utime + children.ru_stime
    if profiler:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False)[:20000])
    own, children = peak_rss_mib()
    print(f"CPU: main process {main_cpu:.1f} s, workers {worker_cpu:.1f} s (plain insert: {plain_cpu:.1f} s)")
    out = {"rows": rows, "created": result["created"], "rejected": result["rejected"],
           "plain_s": round(plain_s, 2), "plain_rows_s": round(rows / plain_s), "raw_driver_rows_s": round(rows / raw_s), "import_s": round(import_s, 2),
           "import_rows_s": round(rows / import_s), "ratio": round(import_s / plain_s, 2),
           "peak_rss_mib": round(own), "peak_rss_children_mib": round(children), "engine": kehu.db.dialect,
           "workers": workers, "main_cpu_s": round(main_cpu, 1), "workers_cpu_s": round(worker_cpu, 1),
           "plain_cpu_s": round(plain_cpu, 1)}
    print(f"import: {result['created']:,} created, {result['rejected']:,} rejected in {import_s:.1f} s = "
          f"{rows / import_s:,.0f} rows/s; {import_s / plain_s:.1f}× the plain insert")
    print(f"peak RSS: {own:,.0f} MiB (this process), {children:,.0f} MiB (largest child)")
    (args.data / "results.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out))
    if not args.url:
        shutil.rmtree(args.data / "var", ignore_errors=True)


if __name__ == "__main__":
    main()
