"""Reports bench: each report on a big store next to the same figures from hand-written DuckDB SQL.

    .venv/bin/python benchmarks/bench_reports.py                                   # 1M customers, 10M orders
    .venv/bin/python benchmarks/bench_reports.py --customers 20000 --orders 200000 # quick smoke run

1. The store comes from `bigstore.build` (created once, then reused; see its docstring).
2. Kehu: each report through `edge.run_as` exactly as `GET /api/v1/reports/{name}` runs it (token,
   principal, scope, read transaction, the report, durable audit entry) — minus HTTP — as three
   viewers: the information manager (all customers), the sales department head (department
   subtree) and a sales staff member (own customers). Median of `--repeat` runs after one warm-up.
3. Baseline: DuckDB (pip, in-process, no extensions) over the same rows, exported from the store to
   CSV once (cached beside it) and loaded into DuckDB tables; the export and load times are
   reported but not counted. Each report is one or more hand-written SQL queries with the viewer's
   scope as a WHERE clause, computing the same figures from the base rows (no pre-aggregation).
   Kehu's figures are checked against the baseline's (totals per report and viewer).

Target (issue 5): each report within 3× of the baseline and under 5 s. Results: printed, and
written to `<store>.reports.json`.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bigstore  # noqa: E402

VIEWERS = (("info", "information manager (all)"), ("head", "department head (sales subtree)"),
           ("zhangwei", "staff (own customers)"))
PERIODS = ("2026-Q3", "2025")
REPORTS = ("growth", "region", "complaints", "sales")
EXPORTS = {
    "customers": "SELECT id, owner_id, department_id, importance, province, city, source_channel, status, "
                 "created_at, updated_at FROM customers",
    "orders": "SELECT id, customer_id, status, total_amount, start_on, created_at FROM orders",
    "payment_plans": "SELECT order_id, due_on, amount FROM payment_plans",
    "payments": "SELECT order_id, paid_on, amount FROM payments",
    "complaints": "SELECT customer_id, kind, handling, responsible_department_id, status, loss_amount, received_on "
                  "FROM complaints",
}
TYPES = {
    "customers": {"id": "VARCHAR", "owner_id": "VARCHAR", "department_id": "VARCHAR", "importance": "VARCHAR",
                  "province": "VARCHAR", "city": "VARCHAR", "source_channel": "VARCHAR", "status": "VARCHAR",
                  "created_at": "TIMESTAMP", "updated_at": "TIMESTAMP"},
    "orders": {"id": "VARCHAR", "customer_id": "VARCHAR", "status": "VARCHAR", "total_amount": "DOUBLE",
               "start_on": "DATE", "created_at": "TIMESTAMP"},
    "payment_plans": {"order_id": "VARCHAR", "due_on": "DATE", "amount": "DOUBLE"},
    "payments": {"order_id": "VARCHAR", "paid_on": "DATE", "amount": "DOUBLE"},
    "complaints": {"customer_id": "VARCHAR", "kind": "VARCHAR", "handling": "VARCHAR",
                   "responsible_department_id": "VARCHAR", "status": "VARCHAR", "loss_amount": "DOUBLE",
                   "received_on": "DATE"},
}


# --- Kehu ---------------------------------------------------------------------------------------------

def _expected_indexes() -> dict[str, object]:
    from kehu.reports import cubes, models

    out = {i.name: i for t in cubes.TABLES for i in models.Base.metadata.tables[t].indexes}
    out.update({i.name: i for i in (models.PLAN_BY_ORDER, models.PAYMENT_BY_ORDER)})
    return out


def reports_schema_current(target: Path) -> str:
    """'current', 'indexes' (only report indexes differ) or 'stale' (cells/triggers of another code version)."""
    import sqlite3

    from kehu.reports import cubes
    from kehu.reports.models import OrderBalance

    expected = {stmt.split()[2]: stmt for stmt in cubes.create_statements(cubes.Dialect("sqlite"))}
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        found = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rpt_%'"))
        marks = ",".join("?" * len(cubes.TABLES))
        indexes = {r[0]: r[1] for r in conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND "
            f"(tbl_name IN ({marks}) OR name LIKE 'ix_report_%')", cubes.TABLES)}
        cols = {r[1] for r in conn.execute("PRAGMA table_info(report_order_balances)")}
    finally:
        conn.close()
    if found != expected or cols != set(OrderBalance.__table__.columns.keys()):
        return "stale"
    want = {name: [c.name for c in idx.columns] for name, idx in _expected_indexes().items()}
    have = {name: [c.strip().strip('"') for c in sql[sql.index("(") + 1:sql.rindex(")")].split(",")]
            for name, sql in indexes.items()}
    return "current" if want == have else "indexes"


def fix_report_indexes(target: Path) -> float:
    """Drop report indexes the code no longer declares and create the missing ones. Seconds taken."""
    from sqlalchemy import create_engine

    t0 = time.perf_counter()
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.begin() as conn:
            have = {r[0] for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_report_%'")}
            want = _expected_indexes()
            for name in have - set(want):
                conn.exec_driver_sql(f"DROP INDEX {name}")
            for name, idx in want.items():
                if name not in have:
                    idx.create(conn)
            conn.exec_driver_sql("ANALYZE report_order_balances")
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def refresh_reports_schema(target: Path) -> float:
    """Re-run migration 0007 (down to 0006, up to head): cells, indexes, triggers, rebuilt. Seconds taken."""
    from alembic import command
    from sqlalchemy import create_engine

    from kehu.setup import alembic_config

    t0 = time.perf_counter()
    engine = create_engine(f"sqlite:///{target}")
    try:
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:  # undo 0007 of whatever code version made the store, then redo it
            from kehu.reports import cubes

            cubes.uninstall(conn)
            for name in ("ix_report_plans_order_due", "ix_report_payments_order_paid"):
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            for table in cubes.TABLES:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0006'")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def runtime(target: Path):
    from kehu.config import Settings
    from kehu.db import Database
    from kehu.runtime import Kehu
    from kehu.security.keyring import load_keyring

    url = f"sqlite:///{target}"
    keys = bigstore.keys_for(target)
    return Kehu(Settings(database_url=url, var_dir=target.parent / "var", key_file=keys),
                keys=load_keyring(env_value=None, path=keys), db=Database(url))


def token(kehu, username: str) -> str:
    from kehu import demo
    from kehu.access import service as access

    with kehu.db.transaction() as s:
        result = access.login(s, kehu=kehu, username=username, password=demo.DEMO_PASSWORD, ip="127.0.0.1")
    assert result.token, result.error
    return result.token


def kehu_report(kehu, tok: str, name: str, period: str, as_of: date, today: date) -> dict:
    from kehu.edge import run_as
    from kehu.reports import service

    return run_as(kehu, token=tok, ip="127.0.0.1", action=f"report.{name}", write=False,
                  fn=lambda s, ctx: service.run(s, ctx, name=name, period=period, as_of=as_of.isoformat(),
                                                today=today))


def principal(kehu, tok: str):
    from kehu.edge import run_as

    return run_as(kehu, token=tok, ip="127.0.0.1", action="bench.principal", write=False,
                  fn=lambda s, ctx: ctx.principal)


def kehu_totals(name: str, body: dict) -> dict:
    """The figures compared with the baseline."""
    tables = {t["key"]: t["rows"] for t in body["tables"]}
    if name == "growth":
        return {r["segment"]: [r["original"], r["new"], r["removed"], r["current"], r["original_last"],
                               r["new_last"], r["removed_last"], r["current_last"]] for r in tables["summary"]}
    if name == "region":
        return {r["province"]: [r["customers"], r["orders"], Decimal(r["sales"] or 0)] for r in tables["provinces"]}
    if name == "complaints":
        return {r["name"]: [r["complaints"], r["closed"], Decimal(r["loss"] or 0), r["complaints_last"]]
                for r in tables["kinds"]}
    rows = tables["owners"]
    return {k: sum((Decimal(r[k] or 0) for r in rows), Decimal(0)) for k in
            ("orders", "sales", "sales_last", "planned", "received", "overdue", "overdue_orders")}


# --- DuckDB baseline ------------------------------------------------------------------------------------

def export_csv(target: Path) -> tuple[Path, float]:
    """The needed tables as CSV files beside the store (reused while the store is unchanged)."""
    folder = Path(f"{target}.csv")
    # the generated data is a deterministic function of the build parameters
    stamp = json.dumps({"params": json.loads(bigstore.meta_for(target).read_text())["params"], "tables": EXPORTS})
    if (folder / "stamp.json").exists() and (folder / "stamp.json").read_text() == stamp:
        return folder, 0.0
    import sqlite3

    folder.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        for table, sql in EXPORTS.items():
            with open(folder / f"{table}.csv", "w", newline="") as fh:
                out = csv.writer(fh)
                out.writerow(TYPES[table])
                cur = conn.execute(sql)
                while rows := cur.fetchmany(100_000):
                    out.writerows(rows)
    finally:
        conn.close()
    (folder / "stamp.json").write_text(stamp)
    return folder, time.perf_counter() - t0


def duck(folder: Path):
    import duckdb

    db = duckdb.connect(":memory:")
    for table, types in TYPES.items():
        cols = ", ".join(f"'{k}': '{v}'" for k, v in types.items())
        db.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{folder / (table + '.csv')}', header=true, "
                   f"columns={{{cols}}}, nullstr='')")
    return db


def scope_sql(p, alias: str = "c") -> str:
    """The viewer's data scope over the customers table, written by hand."""
    if not p.sees_customers:
        return "FALSE"
    if p.scope == "all":
        cond = "TRUE"
    elif p.scope == "department" and p.department_ids:
        ids = ", ".join(f"'{d}'" for d in sorted(p.department_ids))
        cond = f"({alias}.department_id IN ({ids}) OR {alias}.owner_id = '{p.user_id}')"
    else:
        cond = f"{alias}.owner_id = '{p.user_id}'"
    if p.importance != frozenset({"normal", "core", "key"}):
        cond += f" AND {alias}.importance IN ({', '.join(repr(x) for x in sorted(p.importance))})"
    return cond


LOCAL_MONTH = "strftime({e} + INTERVAL 8 HOUR, '%Y-%m')"


def duck_report(db, name: str, p, period, as_of: date) -> dict:
    """The report's figures computed from the base rows with DuckDB."""
    scope = scope_sql(p)
    prev = period.previous()
    if name == "growth":
        out = {}
        for per in (period, prev):
            s, e = per.months
            rows = db.execute(f"""
WITH c AS (SELECT CASE WHEN source_channel IN ('third_party', 'referral') THEN 'indirect' ELSE 'direct' END seg,
  {LOCAL_MONTH.format(e='created_at')} cm,
  CASE WHEN status = 'archived' THEN {LOCAL_MONTH.format(e='updated_at')} END rm FROM customers c WHERE {scope})
SELECT seg, sum(CASE WHEN cm < $s AND (rm IS NULL OR rm >= $s) THEN 1 ELSE 0 END),
  sum(CASE WHEN cm >= $s AND cm < $e THEN 1 ELSE 0 END), sum(CASE WHEN rm >= $s AND rm < $e THEN 1 ELSE 0 END),
  sum(CASE WHEN cm < $e AND (rm IS NULL OR rm >= $e) THEN 1 ELSE 0 END) FROM c GROUP BY seg""",
                              {"s": s, "e": e}).fetchall()
            got = {r[0]: [int(x) for x in r[1:]] for r in rows}
            got.setdefault("direct", [0] * 4)
            got.setdefault("indirect", [0] * 4)
            got["all"] = [a + b for a, b in zip(got["direct"], got["indirect"])]
            for seg, v in got.items():
                out.setdefault(seg, []).extend(v)
        return out
    if name == "region":
        s, e = period.months
        people = db.execute(f"""
SELECT coalesce(province, '未填写'), count(*) FROM customers c WHERE {scope}
  AND {LOCAL_MONTH.format(e='created_at')} < $e
  AND (status <> 'archived' OR {LOCAL_MONTH.format(e='updated_at')} >= $e) GROUP BY 1""", {"e": e}).fetchall()
        sales = db.execute(f"""
SELECT coalesce(c.province, '未填写'), count(*), sum(CAST(round(o.total_amount * 100) AS BIGINT))
FROM orders o JOIN customers c ON c.id = o.customer_id
WHERE {scope} AND o.status IN ('signed', 'executing', 'completed')
  AND coalesce(o.start_on, CAST(o.created_at + INTERVAL 8 HOUR AS DATE)) >= $s
  AND coalesce(o.start_on, CAST(o.created_at + INTERVAL 8 HOUR AS DATE)) < $e GROUP BY 1""",
                           {"s": period.start, "e": period.end}).fetchall()
        out: dict = {}
        for prov, n in people:
            out[prov] = [int(n), 0, Decimal(0)]
        for prov, n, cents in sales:
            v = out.setdefault(prov, [0, 0, Decimal(0)])
            v[1], v[2] = int(n), Decimal(int(cents)) / 100
        return out
    if name == "complaints":
        from kehu.complaints.models import KINDS

        kinds = dict(KINDS)
        out = {}
        for i, per in enumerate((period, prev)):
            rows = db.execute(f"""
SELECT x.kind, count(*), sum(CASE WHEN x.status = 'closed' THEN 1 ELSE 0 END),
  sum(CAST(round(coalesce(x.loss_amount, 0) * 100) AS BIGINT))
FROM complaints x JOIN customers c ON c.id = x.customer_id
WHERE {scope} AND x.received_on >= $s AND x.received_on < $e GROUP BY 1""",
                              {"s": per.start, "e": per.end}).fetchall()
            for kind, n, closed, cents in rows:
                v = out.setdefault(kinds[kind], [0, 0, Decimal(0), 0])
                if i == 0:
                    v[0], v[1], v[2] = int(n), int(closed), Decimal(int(cents)) / 100
                else:
                    v[3] = int(n)
        return out
    out = {}
    for key, per in (("sales", period), ("sales_last", prev)):
        n, cents = db.execute(f"""
SELECT count(*), coalesce(sum(CAST(round(o.total_amount * 100) AS BIGINT)), 0)
FROM orders o JOIN customers c ON c.id = o.customer_id
WHERE {scope} AND o.status IN ('signed', 'executing', 'completed')
  AND coalesce(o.start_on, CAST(o.created_at + INTERVAL 8 HOUR AS DATE)) >= $s
  AND coalesce(o.start_on, CAST(o.created_at + INTERVAL 8 HOUR AS DATE)) < $e""",
                              {"s": per.start, "e": per.end}).fetchone()
        out[key] = Decimal(int(cents)) / 100
        if key == "sales":
            out["orders"] = Decimal(int(n))
    for key, table, col in (("planned", "payment_plans", "due_on"), ("received", "payments", "paid_on")):
        cents = db.execute(f"""
SELECT coalesce(sum(CAST(round(x.amount * 100) AS BIGINT)), 0) FROM {table} x
JOIN orders o ON o.id = x.order_id JOIN customers c ON c.id = o.customer_id
WHERE {scope} AND x.{col} >= $s AND x.{col} < $e""", {"s": period.start, "e": period.end}).fetchone()[0]
        out[key] = Decimal(int(cents)) / 100
    n, cents = db.execute(f"""
WITH due AS (SELECT order_id, sum(CAST(round(amount * 100) AS BIGINT)) d FROM payment_plans
             WHERE due_on < $d GROUP BY order_id),
paid AS (SELECT order_id, sum(CAST(round(amount * 100) AS BIGINT)) p FROM payments WHERE paid_on <= $d GROUP BY order_id)
SELECT count(*), coalesce(sum(due.d - coalesce(paid.p, 0)), 0)
FROM due JOIN orders o ON o.id = due.order_id JOIN customers c ON c.id = o.customer_id
LEFT JOIN paid ON paid.order_id = due.order_id
WHERE {scope} AND o.status NOT IN ('cancelled', 'terminated') AND due.d > coalesce(paid.p, 0)""",
                          {"d": as_of}).fetchone()
    out["overdue"] = Decimal(int(cents)) / 100
    out["overdue_orders"] = Decimal(int(n))
    return out


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median, fastest) seconds of `repeat` runs after a warm-up run, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description="reports vs DuckDB")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--target", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    target = args.target or bigstore.DATA / f"big-{args.customers}-{args.orders}.db"
    t0 = time.perf_counter()
    bigstore.build(target, customers=args.customers, orders=args.orders, seed=args.seed)
    meta = json.loads(bigstore.meta_for(target).read_text())
    print(f"store {target}: ready in {time.perf_counter() - t0:.0f} s; rows {meta['rows']}; "
          f"build seconds {meta['seconds']}", flush=True)
    state = reports_schema_current(target)
    if state == "stale":
        print(f"report cells of an older code version: migration 0007 re-run in "
              f"{refresh_reports_schema(target):.0f} s", flush=True)
    elif state == "indexes":
        print(f"report indexes of an older code version: fixed in {fix_report_indexes(target):.0f} s", flush=True)
    from kehu.reports.period import parse

    today = date.fromisoformat(meta["today"])
    kehu = runtime(target)
    with kehu.db.engine.connect() as c:
        cells = {t: c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in
                 ("report_growth_cells", "report_region_cells", "report_sales_cells", "report_plan_cells",
                  "report_payment_cells", "report_complaint_cells", "report_order_balances")}
    print(f"report cells: {cells}", flush=True)
    folder, export_s = export_csv(target)
    t0 = time.perf_counter()
    db = duck(folder)
    load_s = time.perf_counter() - t0
    print(f"baseline data: CSV export {export_s:.1f} s (0 = reused), DuckDB load {load_s:.1f} s "
          f"(neither counted)", flush=True)
    results = {"store": str(target), "rows": meta["rows"], "cells": cells, "export_s": export_s, "load_s": load_s,
               "command": sys.argv, "runs": []}
    print(f"\n{'report':11s} {'period':8s} {'viewer':32s} {'Kehu ms':>9s} {'DuckDB ms':>10s} {'ratio':>6s}  "
          f"target  figures")
    for username, label in VIEWERS:
        tok = token(kehu, username)
        p = principal(kehu, tok)
        for period_label in PERIODS:
            period, _ = parse(period_label, today=today)
            for name in REPORTS:
                k_s, k_min, body = timed(lambda: kehu_report(kehu, tok, name, period_label, today, today),
                                         args.repeat)
                d_s, d_min, base = timed(lambda: duck_report(db, name, p, period, today), args.repeat)
                mine = kehu_totals(name, body)
                same = {k: v for k, v in mine.items() if k in base or v} == {k: v for k, v in base.items()
                                                                           if k in mine or v}
                ratio = k_s / d_s if d_s else float("inf")
                met = ratio <= 3 and k_s < 5
                print(f"{name:11s} {period_label:8s} {label:32s} {k_s * 1000:9.1f} {d_s * 1000:10.1f} "
                      f"{ratio:6.2f}  {'met' if met else 'MISSED':6s}  {'equal' if same else 'DIFFER'}"
                      f"  (fastest {k_min * 1000:.1f} / {d_min * 1000:.1f} ms)", flush=True)
                if not same:
                    print(f"    kehu {mine}\n    duck {base}")
                results["runs"].append({"report": name, "period": period_label, "viewer": username,
                                        "kehu_ms": k_s * 1000, "duckdb_ms": d_s * 1000, "ratio": ratio,
                                        "kehu_fastest_ms": k_min * 1000, "duckdb_fastest_ms": d_min * 1000,
                                        "met": met, "figures_equal": same})
    out = Path(f"{target}.reports.json")
    out.write_text(json.dumps(results, indent=2, default=str))
    worst = max(results["runs"], key=lambda r: r["ratio"])
    print(f"\nworst ratio {worst['ratio']:.2f} ({worst['report']} {worst['period']} {worst['viewer']}); "
          f"slowest Kehu {max(r['kehu_ms'] for r in results['runs']):.1f} ms; all met: "
          f"{all(r['met'] for r in results['runs'])}; all figures equal: "
          f"{all(r['figures_equal'] for r in results['runs'])}\nresults: {out}")
    kehu.db.engine.dispose()


if __name__ == "__main__":
    main()
