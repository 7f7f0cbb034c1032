"""A big SQLite store for benchmarks: customers plus orders, items, payment plans, payments, follow-ups, complaints.

API (stable; other benches copy this file unchanged):

    build(target: pathlib.Path, *, customers: int = 1_000_000, orders: int = 10_000_000, seed: int = 7) -> pathlib.Path
        Creates — or reuses, when `target` exists and its meta file says it was built with the same
        parameters — a SQLite store at `target`, migrated to the code's current Alembic head, and
        returns `target`. Files beside it: `<target>.keys.json` (the key ring, see `keys_for`) and
        `<target>.meta.json` (parameters, row counts, timings).
    keys_for(target: pathlib.Path) -> pathlib.Path
        The key file of a store built by `build` (pass it as `Settings(key_file=…)` /
        `load_keyring(path=…)`, as bench_foundation.py does).

Customers: with customers == 1_000_000 and the foundation bench's store present
(/work/main/benchmarks/data/bench.db with its keys.json and meta.json, built by
bench_foundation.py through kehu.customers.bulk), that store is copied (SQLite backup API, WAL
included) with its key file; otherwise `customers` demo customers are bulk-loaded through
`kehu.demo.load_demo` (full validation and encryption, ~400/s: use it for small runs).
Customers' creation times are then spread over three years (2023-12-01 … 2026-11-30, local
time) and about 3 % are archived, deterministically by row.

Records (a fixture, not the system under test: plain executemany on one connection):
`orders` orders in creation order over the same three years (status mix 60 % completed,
15 % executing, 10 % signed, 5 % draft / cancelled / terminated), 1–3 items each from a small
product catalogue (total = Σ items), 1–2 payment plans (Σ ≤ total), payments settling the plans
due before 2026-11-30 (≈ 92 % on time, the rest partly or not paid), one follow-up per 4 orders,
one complaint per 50 orders (about half handled with a loss amount and responsible department).
Database triggers are suspended while loading (dropped and re-created from `sqlite_master`); the
tables they maintain are then rebuilt by the hooks in `REBUILD_HOOKS` that the code provides.

Small mode for a quick smoke run: `build(path, customers=20_000, orders=200_000)` (a few minutes).
    python benchmarks/bigstore.py --customers 20000 --orders 200000 [--target PATH] [--seed 7]
"""
from __future__ import annotations

import argparse
import calendar
import importlib
import json
import random
import shutil
import sqlite3
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

FOUNDATION = Path("/work/main/benchmarks/data")
DATA = FOUNDATION  # store files live here (git-ignored), not inside a worktree
SPAN_START = date(2023, 12, 1)
SPAN_DAYS = 1096  # … 2026-11-30
TODAY = SPAN_START + timedelta(days=SPAN_DAYS - 1)
FORMAT = 2  # bump when the generated data changes shape
#: "module:function(connection)" rebuilding tables that triggers keep (skipped when the module is absent)
REBUILD_HOOKS = ("kehu.reports.cubes:rebuild",)
TRIGGERED = ("customers", "orders", "order_items", "payment_plans", "payments", "followups", "complaints")


def keys_for(target: Path) -> Path:
    """The key file of a store built by `build`."""
    return Path(f"{target}.keys.json")


def meta_for(target: Path) -> Path:
    """The meta file of a store built by `build`."""
    return Path(f"{target}.meta.json")


def _head() -> str:
    from alembic.script import ScriptDirectory

    from kehu.setup import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def build(target: Path, *, customers: int = 1_000_000, orders: int = 10_000_000, seed: int = 7) -> Path:
    """Create or reuse the store (see the module docstring); returns `target`."""
    target = Path(target)
    params = {"customers": customers, "orders": orders, "seed": seed, "format": FORMAT}
    meta_path = meta_for(target)
    meta = json.loads(meta_path.read_text()) if target.exists() and meta_path.exists() else {}
    if meta.get("params") == params and meta.get("complete"):
        _migrate(target)
        return target
    timings: dict[str, float] = meta.get("seconds", {}) if meta.get("params") == params else {}
    if meta.get("params") != params or meta.get("phase") != "customers":  # else resume after the customers
        for p in (target, Path(f"{target}-wal"), Path(f"{target}-shm"), meta_path, keys_for(target)):
            p.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        _customers(target, customers, seed)
        _migrate(target)
        timings["customers"] = time.perf_counter() - t0
        with sqlite3.connect(target) as conn:
            triggers, indexes = _triggers(conn), _indexes(conn)
        meta = {"params": params, "phase": "customers", "seconds": timings, "triggers": triggers,
                "indexes": indexes}
        meta_path.write_text(json.dumps(meta))
    else:
        _migrate(target)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        for pragma in ("synchronous=OFF", "cache_size=-2000000", "temp_store=MEMORY", "foreign_keys=OFF"):
            conn.execute(f"PRAGMA {pragma}")
        # triggers off and secondary indexes dropped while loading (recreated by sorting afterwards);
        # a resumed build continues after the last complete chunk
        for name, _sql in _triggers(conn):
            conn.execute(f'DROP TRIGGER "{name}"')
        for name, _sql in _indexes(conn):
            conn.execute(f'DROP INDEX "{name}"')
        t0 = time.perf_counter()
        _spread_customers(conn, seed)
        counts = _records(conn, orders=orders, seed=seed)
        timings["records"] = timings.get("records", 0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        for _name, sql in meta["indexes"]:
            conn.execute(sql)
        timings["indexes"] = time.perf_counter() - t0
        for _name, sql in meta["triggers"]:
            conn.execute(sql)
        t0 = time.perf_counter()
        _rebuild(target)
        timings["rebuild"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("PRAGMA analysis_limit=2000")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        timings["analyze"] = time.perf_counter() - t0
    finally:
        conn.close()
    meta = {"params": params, "complete": True, "head": _head(), "rows": counts, "seconds": timings,
            "today": TODAY.isoformat(), "bytes": target.stat().st_size}
    meta_path.write_text(json.dumps(meta, indent=2))
    return target


def _migrate(target: Path) -> None:
    from sqlalchemy import create_engine

    from kehu.setup import migrate

    engine = create_engine(f"sqlite:///{target}")
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _customers(target: Path, n: int, seed: int) -> None:
    """The customers: a copy of the foundation store (1M) or a fresh bulk load."""
    source = FOUNDATION / "bench.db"
    if n == 1_000_000 and source.exists() and (FOUNDATION / "keys.json").exists():
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=65536)
        finally:
            dst.close()
            src.close()
        shutil.copy(FOUNDATION / "keys.json", keys_for(target))
        keys_for(target).chmod(0o600)
        return
    from kehu import demo
    from kehu.config import Settings
    from kehu.db import Database
    from kehu.runtime import Kehu
    from kehu.security.keyring import KeyRing, load_keyring
    from kehu.setup import bootstrap, migrate

    KeyRing.generate().write(keys_for(target))
    url = f"sqlite:///{target}"
    db = Database(url)
    kehu = Kehu(Settings(database_url=url, var_dir=target.parent / "var", key_file=keys_for(target)),
                keys=load_keyring(env_value=None, path=keys_for(target)), db=db)
    migrate(db.engine)
    bootstrap(kehu)
    demo.load_demo(kehu, n=n, seed=seed, batch=2000, analyze=False)
    db.engine.dispose()


def _indexes(conn: sqlite3.Connection) -> list[list[str]]:
    """[name, CREATE statement] of the droppable secondary indexes of the record tables."""
    records = TRIGGERED[1:]
    marks = ",".join("?" * len(records))
    return [list(r) for r in conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
        records)]


def _triggers(conn: sqlite3.Connection) -> list[list[str]]:
    """[name, CREATE statement] of the triggers on the loaded tables (suspended while loading)."""
    marks = ",".join("?" * len(TRIGGERED))
    return [list(r) for r in conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({marks})", TRIGGERED)]


def _rebuild(target: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{target}")
    try:
        for hook in REBUILD_HOOKS:
            module, _, fn = hook.partition(":")
            try:
                rebuild = getattr(importlib.import_module(module), fn)
            except (ImportError, AttributeError):
                continue
            with engine.begin() as c:
                c.exec_driver_sql("PRAGMA cache_size=-2000000")
                rebuild(c)
    finally:
        engine.dispose()


def _spread_customers(conn: sqlite3.Connection, seed: int) -> None:
    """Creation times over the three years (local midnight-based, stored UTC); ~3 % archived later."""
    conn.execute("BEGIN")
    conn.execute(
        "UPDATE customers SET created_at = strftime('%Y-%m-%d %H:%M:%f', ?, "
        "'+' || ((rowid * 7919 + ?) % ?) || ' days', '+' || ((rowid * 104729) % 86400) || ' seconds', '-8 hours')",
        (SPAN_START.isoformat(), seed, SPAN_DAYS))
    conn.execute(
        "UPDATE customers SET status = 'archived', updated_at = min(strftime('%Y-%m-%d %H:%M:%f', created_at, "
        "'+' || (30 + (rowid % 400)) || ' days'), ?) WHERE (rowid * 31 + ?) % 100 < 3",
        (f"{TODAY.isoformat()} 00:00:00.000", seed))
    conn.execute("UPDATE customers SET updated_at = created_at WHERE status <> 'archived' AND updated_at < created_at")
    conn.execute("COMMIT")


PRICES = (980, 2400, 5800, 12000, 36000, 88000)  # yuan; product i costs PRICES[i % 6]
CHUNK = 250_000


def _records(conn: sqlite3.Connection, *, orders: int, seed: int) -> dict[str, int]:
    """Orders with items, plans, payments; follow-ups; complaints — generated by SQL inside SQLite, in chunks.

    Every value is a deterministic function of the order's number n (1…orders, in creation order):
    orders are evenly spaced over the three years, so ids (time-ordered hex) and order numbers grow with n.
    """
    _products(conn, random.Random(seed))
    conn.execute("DROP TABLE IF EXISTS temp.cust")
    conn.execute("CREATE TEMP TABLE cust (n INTEGER PRIMARY KEY, id TEXT NOT NULL)")
    conn.execute("INSERT INTO temp.cust (id) SELECT id FROM customers ORDER BY rowid")
    n_cust = conn.execute("SELECT count(*) FROM temp.cust").fetchone()[0]
    for name, rows in (("usr", "SELECT id FROM users ORDER BY id"), ("dep", "SELECT id FROM departments ORDER BY id"),
                       ("prod", "SELECT id FROM products WHERE code LIKE 'BENCH-%' ORDER BY code")):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        conn.execute(f"CREATE TEMP TABLE {name} (i INTEGER PRIMARY KEY, id TEXT NOT NULL)")
        conn.execute(f"INSERT INTO temp.{name} (i, id) SELECT row_number() OVER () - 1, id FROM ({rows})")
    n_usr = conn.execute("SELECT count(*) FROM temp.usr").fetchone()[0]
    n_dep = conn.execute("SELECT count(*) FROM temp.dep").fetchone()[0]
    start_ms = calendar.timegm(SPAN_START.timetuple()) * 1000 - 8 * 3600 * 1000  # local (UTC+8) midnight
    step = SPAN_DAYS * 86_400_000 // orders
    first_n = {}  # year → first order number of that year (orders are evenly spaced)
    for year in range(SPAN_START.year, TODAY.year + 1):
        y_ms = calendar.timegm(date(year, 1, 1).timetuple()) * 1000 - 8 * 3600 * 1000
        first_n[year] = max(1, -(-(y_ms - start_ms) // step) + 1)
    year_of = "CASE " + " ".join(f"WHEN n >= {first_n[y]} THEN {y}" for y in sorted(first_n, reverse=True)) + " END"
    n0_of = "CASE " + " ".join(f"WHEN n >= {first_n[y]} THEN {first_n[y]}" for y in sorted(first_n, reverse=True)) + " END"
    price = "CASE ({p}) % 6 " + " ".join(f"WHEN {i} THEN {v * 100}" for i, v in enumerate(PRICES)) + " END"
    lines = "(1 + ((n * 37 + {s}) % 100 < 40) + ((n * 53 + {s}) % 100 < 20))".format(s=seed)
    prod = "((n * 31 + k * 17 + {s}) % 20)".format(s=seed)
    qty = "(1 + (n * k * 7 + {s}) % 4)".format(s=seed)
    item_cents = f"(({price.format(p=prod)}) * {qty})"
    total = " + ".join(f"CASE WHEN {lines} >= {k} THEN {item_cents.replace('k', str(k))} ELSE 0 END"
                       for k in (1, 2, 3))
    status = ("CASE WHEN h < 12 THEN 'completed' WHEN h < 15 THEN 'executing' WHEN h < 17 THEN 'signed' "
              "WHEN h = 17 THEN 'draft' WHEN h = 18 THEN 'cancelled' ELSE 'terminated' END")
    counts = dict.fromkeys(("orders", "order_items", "payment_plans", "payments", "followups", "complaints"), 0)
    today = TODAY.isoformat()
    started = time.perf_counter()
    done = conn.execute("SELECT count(*) FROM orders").fetchone()[0]  # complete chunks of an interrupted build
    for lo in range(done + 1, orders + 1, CHUNK):
        hi = min(orders, lo + CHUNK - 1)
        conn.execute("BEGIN")
        conn.execute("DROP TABLE IF EXISTS temp.gen")
        conn.execute(f"""
CREATE TEMP TABLE gen AS
WITH RECURSIVE seq(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM seq WHERE n < {hi})
SELECT n, {start_ms} + (n - 1) * {step} AS ms, ((n * 40503 + {seed}) % 20) AS h,
  1 + ((n * 2654435761 + {seed}) % {n_cust}) AS cn, (n * 7 + {seed}) % {n_usr} AS un, {year_of} AS yr, {n0_of} AS n0,
  {lines} AS lines, {total} AS total
FROM seq""")
        conn.execute("""
CREATE TEMP TABLE g2 AS SELECT n, printf('%012x%020x', ms, n) AS id, ms, h, cn, un, yr, n0, lines, total,
  strftime('%Y-%m-%d %H:%M:%f', ms / 1000.0, 'unixepoch') AS created, date(ms / 1000, 'unixepoch', '+8 hours') AS day
FROM temp.gen""")
        conn.execute(f"""
INSERT INTO orders (id, customer_id, order_no, status, delivery_status, total_amount, start_on, created_by,
  created_at, updated_at)
SELECT g.id, c.id, 'HT' || g.yr || printf('%07d', g.n - g.n0 + 1), {status}, 'delivered', g.total / 100.0,
  CASE WHEN g.n % 10 <> 0 THEN date(g.day, '+' || (g.n % 15) || ' days') END, u.id, g.created, g.created
FROM temp.g2 g JOIN temp.cust c ON c.n = g.cn JOIN temp.usr u ON u.i = g.un ORDER BY g.n""")
        conn.execute(f"""
INSERT INTO order_items (id, order_id, line_no, product_id, quantity, unit_price, amount)
SELECT printf('%012x%04x%016x', g.ms, k.k, g.n), g.id, k.k, p.id, {qty.replace('n', 'g.n').replace('k', 'k.k')},
  ({price.format(p=prod.replace('n', 'g.n').replace('k', 'k.k'))}) / 100.0,
  ({item_cents.replace('n', 'g.n').replace('k', 'k.k')}) / 100.0
FROM temp.g2 g JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k ON k.k <= g.lines
JOIN temp.prod p ON p.i = {prod.replace('n', 'g.n').replace('k', 'k.k')} ORDER BY g.n, k.k""")
        # plans: one or two per signed order; the second half due two months after the first
        conn.execute(f"""
CREATE TEMP TABLE pl AS
SELECT g.n, g.ms, g.id AS order_id, k.k, g.un,
  CASE WHEN g.n % 2 = 0 THEN g.total WHEN k.k = 1 THEN g.total / 2 ELSE g.total - g.total / 2 END AS cents,
  date(g.day, '+' || (30 + 60 * (k.k - 1) + (g.n * 13) % 30) || ' days') AS due,
  ((g.n * 7 + {seed}) % 100 < 8) AS late, g.created
FROM temp.g2 g JOIN (SELECT 1 AS k UNION ALL SELECT 2) k ON k.k <= 2 - (g.n % 2 = 0)
WHERE g.h < 17 OR g.h = 19""")
        conn.execute("""
INSERT INTO payment_plans (id, order_id, due_on, amount, created_by, created_at)
SELECT printf('%012x%04x%016x', p.ms, 10 + p.k, p.n), p.order_id, p.due, p.cents / 100.0, u.id, p.created
FROM temp.pl p JOIN temp.usr u ON u.i = p.un ORDER BY p.n, p.k""")
        conn.execute(f"""
INSERT INTO payments (id, order_id, paid_on, amount, method, handler_id, created_by, created_at)
SELECT printf('%012x%04x%016x', p.ms, 20 + p.k, p.n), p.order_id,
  min('{today}', date(p.due, printf('%+d days', (p.n * p.k * 11) % 35 - 10))),
  CASE WHEN p.late THEN (p.cents / 2) / 100.0 ELSE p.cents / 100.0 END, 'transfer', u.id, u.id, p.created
FROM temp.pl p JOIN temp.usr u ON u.i = p.un
WHERE p.due <= '{today}' AND NOT (p.late AND (p.n + p.k) % 2 = 0) ORDER BY p.n, p.k""")
        conn.execute("""
INSERT INTO followups (id, customer_id, method, followed_at, result, created_by, created_at)
SELECT printf('%012x%04x%016x', g.ms, 30, g.n), c.id, 'phone', g.day || ' 10:00', '沟通顺利', u.id, g.created
FROM temp.g2 g JOIN temp.cust c ON c.n = g.cn JOIN temp.usr u ON u.i = g.un WHERE g.n % 4 = 0 ORDER BY g.n""")
        conn.execute(f"""
INSERT INTO complaints (id, customer_id, complaint_no, status, kind, channel, urgency, received_on, content,
  promised_on, handling, loss_amount, responsible_department_id, handled_on, closed_on, created_by, created_at,
  updated_at)
SELECT printf('%012x%04x%016x', x.ms, 40, x.n), x.cust, 'TS' || x.yr || printf('%06d', (x.n - x.n0) / 50 + 1),
  CASE WHEN x.handled THEN 'closed' ELSE 'registered' END, x.kind, 'phone', 'normal', x.received, '产品问题',
  date(x.received, '+7 days'),
  CASE WHEN x.handled THEN CASE (x.n / 50) % 4 WHEN 0 THEN 'return' WHEN 1 THEN 'exchange' WHEN 2 THEN 'discount'
       ELSE 'repair' END END,
  CASE WHEN x.handled THEN ((x.n * 17) % 500000) / 100.0 END, CASE WHEN x.handled THEN d.id END,
  CASE WHEN x.handled THEN x.received END, CASE WHEN x.handled THEN x.received END, u.id, x.created, x.created
FROM (SELECT g.*, c.id AS cust, date(g.day, '+' || (10 + g.n % 80) || ' days') AS received,
        CASE (g.n / 50) % 3 WHEN 0 THEN 'goods' WHEN 1 THEN 'service' ELSE 'other' END AS kind,
        ((g.n / 50) % 2 = 0 AND date(g.day, '+' || (10 + g.n % 80) || ' days') < '{today}') AS handled
      FROM temp.g2 g JOIN temp.cust c ON c.n = g.cn WHERE g.n % 50 = 0) x
JOIN temp.usr u ON u.i = x.un JOIN temp.dep d ON d.i = (x.n / 50) % {n_dep} ORDER BY x.n""")
        conn.execute("DROP TABLE temp.gen")
        conn.execute("DROP TABLE temp.g2")
        conn.execute("DROP TABLE temp.pl")
        conn.execute("COMMIT")
        rate = (hi - done) / (time.perf_counter() - started)
        print(f"  orders {hi:,}/{orders:,} ({rate:,.0f}/s)", flush=True)
    for table in counts:
        counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    conn.execute("BEGIN")
    for table, prefix in (("order_sequences", "HT"), ("complaint_sequences", "TS")):
        src = "orders" if prefix == "HT" else "complaints"
        col = "order_no" if prefix == "HT" else "complaint_no"
        conn.execute(f"INSERT OR REPLACE INTO {table} (year, last) SELECT CAST(substr({col}, 3, 4) AS INTEGER), "
                     f"max(CAST(substr({col}, 7) AS INTEGER)) FROM {src} WHERE {col} LIKE '{prefix}%' GROUP BY 1")
    conn.execute("COMMIT")
    return counts


def _products(conn: sqlite3.Connection, rng: random.Random) -> list[tuple[str, int]]:
    """A small catalogue (created when missing): (product id, price in cents)."""
    rows = conn.execute("SELECT id, list_price FROM products").fetchall()
    if len(rows) >= 20:
        return [(pid, int(round((price or 1000) * 100))) for pid, price in rows]
    conn.execute("BEGIN")
    line = f"{0:012x}{0:04x}{rng.getrandbits(64):016x}"
    conn.execute("INSERT INTO product_lines (id, code, name) VALUES (?, 'BENCH', '基准测试产品线')", (line,))
    out = []
    for i in range(20):
        pid = f"{0:012x}{i + 1:04x}{rng.getrandbits(64):016x}"
        price = PRICES[i % 6] * 100
        conn.execute("INSERT INTO products (id, code, name, line_id, unit, list_price, active) VALUES (?,?,?,?,?,?,1)",
                     (pid, f"BENCH-{i + 1:02d}", f"基准产品{i + 1}", line, "套", price / 100))
        out.append((pid, price))
    conn.execute("COMMIT")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--target", type=Path, default=None)
    a = ap.parse_args()
    target = a.target or DATA / f"big-{a.customers}-{a.orders}.db"
    t0 = time.perf_counter()
    build(target, customers=a.customers, orders=a.orders, seed=a.seed)
    print(f"{target} ready in {time.perf_counter() - t0:.0f} s: {meta_for(target).read_text()}")


if __name__ == "__main__":
    main()
