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
    if target.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == params and meta.get("complete"):
            _migrate(target)
            return target
    for p in (target, Path(f"{target}-wal"), Path(f"{target}-shm"), meta_path):
        p.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _customers(target, customers, seed)
    timings["customers"] = time.perf_counter() - t0
    _migrate(target)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        for pragma in ("synchronous=OFF", "cache_size=-2000000", "temp_store=MEMORY", "foreign_keys=OFF"):
            conn.execute(f"PRAGMA {pragma}")
        saved = _suspend_triggers(conn)
        t0 = time.perf_counter()
        _spread_customers(conn, seed)
        counts = _records(conn, orders=orders, seed=seed)
        timings["records"] = time.perf_counter() - t0
        for sql in saved:
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


def _suspend_triggers(conn: sqlite3.Connection) -> list[str]:
    """Drop the triggers of the loaded tables; returns their CREATE statements."""
    marks = ",".join("?" * len(TRIGGERED))
    rows = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({marks})",
                        TRIGGERED).fetchall()
    for name, _sql in rows:
        conn.execute(f'DROP TRIGGER "{name}"')
    return [sql for _name, sql in rows]


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


def _hex(ms: int, seq: int, rng: random.Random) -> str:
    return f"{ms:012x}{seq & 0xFFFF:04x}{rng.getrandbits(64):016x}"


def _records(conn: sqlite3.Connection, *, orders: int, seed: int) -> dict[str, int]:
    """Orders with items, plans, payments; follow-ups; complaints — in creation order, executemany."""
    rng = random.Random(seed)
    customers = [r[0] for r in conn.execute("SELECT id FROM customers")]
    users = [r[0] for r in conn.execute("SELECT id FROM users")]
    depts = [r[0] for r in conn.execute("SELECT id FROM departments")]
    products = _products(conn, rng)
    statuses = ["completed"] * 12 + ["executing"] * 3 + ["signed"] * 2 + ["draft", "cancelled", "terminated"]
    counts = dict.fromkeys(("orders", "order_items", "payment_plans", "payments", "followups", "complaints"), 0)
    per_day = orders / SPAN_DAYS
    made = 0
    seq_by_year: dict[int, int] = {}
    comp_seq: dict[int, int] = {}
    buf: dict[str, list] = {k: [] for k in counts}
    sql = {
        "orders": "INSERT INTO orders (id, customer_id, order_no, status, delivery_status, total_amount, terms, "
                  "start_on, end_on, signer, created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        "order_items": "INSERT INTO order_items (id, order_id, line_no, product_id, quantity, unit_price, amount) "
                       "VALUES (?,?,?,?,?,?,?)",
        "payment_plans": "INSERT INTO payment_plans (id, order_id, due_on, amount, note, created_by, created_at) "
                         "VALUES (?,?,?,?,?,?,?)",
        "payments": "INSERT INTO payments (id, order_id, paid_on, amount, method, handler_id, account, note, "
                    "created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        "followups": "INSERT INTO followups (id, customer_id, method, followed_at, contact_id, result, notes, "
                     "next_followup_on, created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        "complaints": "INSERT INTO complaints (id, customer_id, complaint_no, status, kind, channel, urgency, "
                      "received_on, content, promised_on, cause, countermeasure, handling, loss_amount, "
                      "responsible_department_id, handled_on, satisfaction, evaluation_note, closed_on, survey_id, "
                      "created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    }

    def flush() -> None:
        conn.execute("BEGIN")
        for table, rows in buf.items():
            if rows:
                conn.executemany(sql[table], rows)
                counts[table] += len(rows)
                rows.clear()
        conn.execute("COMMIT")

    started = time.perf_counter()
    for day_no in range(SPAN_DAYS):
        day = SPAN_START + timedelta(days=day_no)
        target = round(per_day * (day_no + 1)) if day_no < SPAN_DAYS - 1 else orders
        todays = target - made
        base_ms = calendar.timegm(day.timetuple()) * 1000 - 8 * 3600 * 1000  # local (UTC+8) midnight
        for k in range(todays):
            ms = base_ms + int(k * 86_400_000 / max(1, todays))
            stamp = datetime.utcfromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S.%f")
            oid = _hex(ms, k, rng)
            cust = customers[rng.randrange(len(customers))]
            user = users[rng.randrange(len(users))]
            year = day.year
            seq_by_year[year] = seq_by_year.get(year, 0) + 1
            status = statuses[rng.randrange(len(statuses))]
            lines = 1 + (rng.random() < 0.4) + (rng.random() < 0.2)
            total = 0
            for line in range(lines):
                pid, price = products[rng.randrange(len(products))]
                qty = 1 + int(rng.expovariate(0.5))
                amount = price * qty
                total += amount
                buf["order_items"].append((_hex(ms, k * 4 + line, rng), oid, line + 1, pid, qty, price / 100,
                                           amount / 100))
            start = day + timedelta(days=rng.randrange(0, 15)) if rng.random() < 0.9 else None
            buf["orders"].append((oid, cust, f"HT{year}{seq_by_year[year]:07d}", status, "delivered", total / 100,
                                  None, start.isoformat() if start else None, None, None, user, stamp, stamp))
            made += 1
            if status in ("draft", "cancelled"):
                continue
            plans = [total] if rng.random() < 0.5 else [total // 2, total - total // 2]
            dues = [day + timedelta(days=30 + 60 * i + rng.randrange(0, 30)) for i in range(len(plans))]
            late_payer = rng.random() < 0.08
            for i, (amount, due) in enumerate(zip(plans, dues)):
                buf["payment_plans"].append((_hex(ms, k * 4 + i, rng), oid, due.isoformat(), amount / 100, None,
                                             user, stamp))
                if due > TODAY:
                    continue
                if late_payer:
                    if rng.random() < 0.5:
                        continue
                    amount = amount // 2
                paid_on = min(TODAY, due + timedelta(days=rng.randrange(-10, 25)))
                buf["payments"].append((_hex(ms, k * 4 + i + 2, rng), oid, paid_on.isoformat(), amount / 100,
                                        "transfer", user, None, None, user, stamp))
            if rng.random() < 0.25:
                buf["followups"].append((_hex(ms, k * 4 + 3, rng), cust, "phone", f"{day.isoformat()} 10:00", None,
                                         "沟通顺利", None, None, user, stamp))
            if rng.random() < 0.02:
                comp_seq[year] = comp_seq.get(year, 0) + 1
                received = day + timedelta(days=rng.randrange(10, 90))
                handled = rng.random() < 0.5 and received < TODAY
                kind = ("goods", "service", "other")[rng.randrange(3)]
                buf["complaints"].append((
                    _hex(ms, k * 4 + 1, rng), cust, f"TS{year}{comp_seq[year]:06d}",
                    "closed" if handled else "registered", kind, "phone", "normal", received.isoformat(), "产品问题",
                    (received + timedelta(days=7)).isoformat(), None, None,
                    ("return", "exchange", "discount", "repair")[rng.randrange(4)] if handled else None,
                    rng.randrange(0, 500000) / 100 if handled else None,
                    depts[rng.randrange(len(depts))] if handled else None,
                    received.isoformat() if handled else None, None, None,
                    received.isoformat() if handled else None, None, user, stamp, stamp))
        if len(buf["orders"]) >= 50_000 or day_no == SPAN_DAYS - 1:
            flush()
            rate = made / (time.perf_counter() - started)
            print(f"  orders {made:,}/{orders:,} ({rate:,.0f}/s)", flush=True)
    for year, last in seq_by_year.items():
        conn.execute("INSERT OR REPLACE INTO order_sequences (year, last) VALUES (?, ?)", (year, last))
    for year, last in comp_seq.items():
        conn.execute("INSERT OR REPLACE INTO complaint_sequences (year, last) VALUES (?, ?)", (year, last))
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
        price = rng.choice([980, 2400, 5800, 12000, 36000, 88000]) * 100
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
