"""Benchmark: full evaluation of all built-in tags, grades and RFM vs hand-written DuckDB SQL, same data, same run.

    nice -n 10 python benchmarks/bench_tags.py [--customers 1000000 --orders 10000000] [--incremental 50] [--repeat 3]

1. The store comes from `benchmarks/bigstore.py` (copied unchanged from the reports work): customers with
   orders, items, payments, follow-ups, complaints over three years ending 2026-11-30 (the evaluation day).
   The bench works on a copy (`<store>.tags.db`, SQLite backup API) so the shared store stays untouched.
2. Kehu: `kehu.tags.engine.evaluate_all` in one transaction (the same code as `kehu tags evaluate`):
   every active built-in rule compiled to SQL, applied with INSERT … SELECT, diffed into customer_tags
   with history, then grade cuts, grades, stars and RFM: the first run on a store without tags (every tag is
   written), then the scheduled re-evaluation (same results, only changes written) `--repeat` times.
   A full run also counts and stores the tag quality figures (its `quality` phase and the group conflicts'
   `diff.groups` step, ~5 s on 1M): DuckDB computes no such thing, so the like-for-like ratio
   (`ratio_again_tags_grades_rfm_vs_duckdb_sql`) leaves those out (the diff's scan also sums the group weights:
   that share stays in); `ratio_again_vs_duckdb_sql` is the whole run's.
3. DuckDB baseline: the needed columns exported to CSV (export and load timed separately), then one
   hand-written SQL script computing the same memberships, grades, stars and RFM (RFM with
   ceil(5 × cume_dist) in integer arithmetic, grades with ROW_NUMBER() (value desc, older id first): an
   independent formulation), `--repeat` times; the ratio compares the medians. Counts per tag and grade
   and the sums of stars/R/F/M must match Kehu's, or the bench fails.
4. Incremental: for N random customers, an order's unit of work with the real-time hook evaluating
   the customer inside it (the evaluation timed alone, and the whole transaction) next to the same
   order transaction without it.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bigstore  # noqa: E402

AS_OF = bigstore.TODAY


def _copy(src: Path) -> Path:
    dst = src.with_name(src.stem + ".tags.db")
    for p in (dst, Path(f"{dst}-wal"), Path(f"{dst}-shm")):
        p.unlink(missing_ok=True)
    a, b = sqlite3.connect(f"file:{src}?mode=ro", uri=True), sqlite3.connect(dst)
    try:
        a.backup(b, pages=65536)
    finally:
        b.close()
        a.close()
    return dst


def _runtime(store: Path, keys: Path):
    import kehu.models  # noqa: F401  (every table, for foreign keys)
    from kehu.config import Settings
    from kehu.db import Base, Database
    from kehu.runtime import Kehu
    from kehu.security.keyring import load_keyring
    from kehu.tags import models

    url = f"sqlite:///{store}"
    db = Database(url)
    tables = [getattr(models, n).__table__ for n in models.__all__]
    Base.metadata.create_all(db.engine, tables=tables, checkfirst=True)  # a store migrated before 0014 had them
    return Kehu(Settings(database_url=url, key_file=keys, var_dir=store.parent / "var"),
                keys=load_keyring(env_value=None, path=keys), db=db)


def kehu_full(kehu) -> tuple[float, dict]:
    """Full evaluation through the product code; returns seconds and the figures to compare."""
    from sqlalchemy import func, select

    from kehu.tags import engine
    from kehu.tags.models import CustomerGrade, CustomerTag, Tag

    t0 = time.perf_counter()
    with kehu.db.transaction() as s:
        stats = engine.evaluate_all(s, kehu.catalog(s), as_of=AS_OF)
    seconds = time.perf_counter() - t0
    with kehu.db.reader() as s:
        tags = dict(s.execute(select(Tag.code, func.count()).join(CustomerTag, CustomerTag.tag_id == Tag.id)
                              .group_by(Tag.code)).all())
        grades = {g or "-": n for g, n in s.execute(select(CustomerGrade.grade, func.count())
                                                   .group_by(CustomerGrade.grade))}
        sums = s.execute(select(func.sum(CustomerGrade.stars), func.sum(CustomerGrade.r), func.sum(CustomerGrade.f),
                                func.sum(CustomerGrade.m))).one()
    return seconds, {"customers": stats["customers"], "rules": stats["rules"], "phases": stats["seconds"],
                     "tags": tags, "grades": grades,
                     "stars_r_f_m": [int(x or 0) for x in sums]}


EXPORTS = {
    "customers": "SELECT id, status, gender, birth_date, city, district, occupation FROM customers",
    "orders": "SELECT id, customer_id, status, total_amount, created_at FROM orders",
    "order_items": "SELECT order_id, product_id, amount, quantity, unit_price FROM order_items",
    "products": "SELECT id, line_id FROM products",
    "product_lines": "SELECT id, code FROM product_lines",
    "followups": "SELECT customer_id, method, followed_at FROM followups",
    "communications": "SELECT customer_id, intent, communicated_on FROM communications",
    "leads": "SELECT customer_id FROM leads",
}


def export_csv(store: Path, folder: Path) -> float:
    """The columns the evaluation reads, as CSV files (the DuckDB sqlite extension would be a download)."""
    t0 = time.perf_counter()
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    for name, sql in EXPORTS.items():
        cur = conn.execute(sql)
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([d[0] for d in cur.description])
            while rows := cur.fetchmany(100_000):
                w.writerows(rows)
    conn.close()
    return time.perf_counter() - t0


TYPES = {
    "customers": {"id": "VARCHAR", "status": "VARCHAR", "gender": "VARCHAR", "birth_date": "DATE", "city": "VARCHAR",
                  "district": "VARCHAR", "occupation": "VARCHAR"},
    "orders": {"id": "VARCHAR", "customer_id": "VARCHAR", "status": "VARCHAR", "total_amount": "DECIMAL(18,2)",
               "created_at": "TIMESTAMP"},
    "order_items": {"order_id": "VARCHAR", "product_id": "VARCHAR", "amount": "DECIMAL(18,2)",
                    "quantity": "DECIMAL(18,2)", "unit_price": "DECIMAL(18,2)"},
    "products": {"id": "VARCHAR", "line_id": "VARCHAR"}, "product_lines": {"id": "VARCHAR", "code": "VARCHAR"},
    "followups": {"customer_id": "VARCHAR", "method": "VARCHAR", "followed_at": "VARCHAR"},
    "communications": {"customer_id": "VARCHAR", "intent": "VARCHAR", "communicated_on": "DATE"},
    "leads": {"customer_id": "VARCHAR"},
}


def duck_load(folder: Path):
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    for name, cols in TYPES.items():
        spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{folder / name}.csv', header=true, "
                    f"columns={spec})")
    from kehu.tags.compiler import city_tiers
    con.execute("CREATE TABLE tiers(city VARCHAR, tier VARCHAR)")
    con.executemany("INSERT INTO tiers VALUES (?, ?)", list(city_tiers().items()))
    return con, time.perf_counter() - t0


def _years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year - n)
    except ValueError:
        return d.replace(year=d.year - n, day=28)


def duck_sql(a_top: int = 15, b_top: int = 30, b_freq_top: int = 15) -> str:
    """The hand-written baseline: the SPEC §6 thresholds straight in SQL."""
    d = AS_OF
    day = lambda n: f"TIMESTAMP '{d - timedelta(days=n - 1)} 00:00:00'"  # noqa: E731  window start of n days
    upper = f"TIMESTAMP '{d + timedelta(days=1)} 00:00:00'"
    b = {n: f"DATE '{_years(d, n)}'" for n in (18, 26, 36, 46)}
    last_ok = lambda n: f"TIMESTAMP '{d - timedelta(days=n)} 00:00:00'"  # noqa: E731  last purchase ≤ n days ago
    occ = {"occ_manager": "经理 总监 总裁 董事 主管", "occ_education": "教师 老师 教授", "occ_medical": "医生 护士 医师",
           "occ_engineer": "工程师 程序员 技术员", "occ_civil": "公务员", "occ_student": "学生"}
    occ_sql = ",\n".join("  (" + " OR ".join(f"contains(coalesce(occupation,''), '{w}')" for w in ws.split())
                         + f") AS {code}" for code, ws in occ.items())
    f365 = f"'{d - timedelta(days=364)}'"
    fup = f"'{d + timedelta(days=1)}'"
    return f"""
CREATE OR REPLACE TABLE buy AS SELECT customer_id,
  count(*) FILTER (WHERE created_at >= {day(30)}) AS n30, count(*) FILTER (WHERE created_at >= {day(90)}) AS n90,
  count(*) AS n_all, coalesce(sum(total_amount) FILTER (WHERE created_at >= {day(365)}), 0) AS y365,
  coalesce(sum(total_amount) FILTER (WHERE created_at >= {day(90)}), 0) AS q_spend,
  count(*) FILTER (WHERE created_at >= {day(365)}) AS y_freq, max(created_at) AS last
FROM orders WHERE status IN ('signed','executing','completed','terminated') AND created_at < {upper} GROUP BY 1;
CREATE OR REPLACE TABLE lines AS SELECT o.customer_id, pl.code, sum(coalesce(i.amount, i.quantity * i.unit_price)) AS amt
FROM order_items i JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id
JOIN product_lines pl ON pl.id = p.line_id
WHERE o.status IN ('signed','executing','completed','terminated') AND o.created_at >= {day(365)} AND o.created_at < {upper}
GROUP BY 1, 2;
CREATE OR REPLACE TABLE linetot AS SELECT customer_id, sum(amt) AS tot FROM lines GROUP BY 1;
CREATE OR REPLACE TABLE fu AS SELECT customer_id,
  count(*) FILTER (WHERE method IN ('wechat','email')) AS online, count(*) FILTER (WHERE method IN ('visit','meeting')) AS offline
FROM followups WHERE followed_at >= {f365} AND followed_at < {fup} GROUP BY 1;
CREATE OR REPLACE TABLE intent AS SELECT DISTINCT customer_id FROM communications
WHERE intent IN ('strong','moderate') AND communicated_on >= DATE '{d - timedelta(days=179)}' AND communicated_on <= DATE '{d}';
CREATE OR REPLACE TABLE base AS SELECT c.id, c.status <> 'archived' AS live,
  c.birth_date <= {b[18]} AND c.birth_date > {b[26]} AS age_18_25, c.birth_date <= {b[26]} AND c.birth_date > {b[36]} AS age_26_35,
  c.birth_date <= {b[36]} AND c.birth_date > {b[46]} AS age_36_45, c.birth_date <= {b[46]} AS age_over_45,
  c.gender = 'M' AS gender_male, c.gender = 'F' AS gender_female,
  CASE WHEN c.district LIKE '%县' OR c.district LIKE '%旗' THEN '农村' WHEN c.city IS NULL THEN NULL
       ELSE coalesce(t.tier, '三线及以下') END AS tier,
{occ_sql},
  coalesce(o.n30, 0) AS n30, coalesce(o.n90, 0) AS n90, coalesce(o.n_all, 0) AS n_all, coalesce(o.y365, 0) AS y365,
  coalesce(o.q_spend, 0) AS q_spend, coalesce(o.y_freq, 0) AS y_freq, o.last,
  coalesce(f.online, 0) AS online, coalesce(f.offline, 0) AS offline,
  coalesce(o.n_all, 0) = 0 AND (c.id IN (SELECT customer_id FROM leads) OR c.id IN (SELECT customer_id FROM intent)) AS potential
FROM customers c LEFT JOIN tiers t ON t.city = c.city LEFT JOIN buy o ON o.customer_id = c.id
LEFT JOIN fu f ON f.customer_id = c.id;
CREATE OR REPLACE TABLE tagged AS
SELECT id, tag FROM (
  SELECT id, live, [
    CASE WHEN age_18_25 THEN 'age_18_25' END, CASE WHEN age_26_35 THEN 'age_26_35' END,
    CASE WHEN age_36_45 THEN 'age_36_45' END, CASE WHEN age_over_45 THEN 'age_over_45' END,
    CASE WHEN gender_male THEN 'gender_male' END, CASE WHEN gender_female THEN 'gender_female' END,
    CASE tier WHEN '一线' THEN 'tier_1' WHEN '新一线' THEN 'tier_new1' WHEN '二线' THEN 'tier_2'
              WHEN '三线及以下' THEN 'tier_3' WHEN '农村' THEN 'rural' END,
    {", ".join(f"CASE WHEN {c} THEN '{c}' END" for c in occ)},
    CASE WHEN n30 >= 3 THEN 'freq_high' WHEN n30 >= 1 THEN 'freq_medium' WHEN n_all >= 1 AND n90 <= 1 THEN 'freq_low' END,
    CASE WHEN y365 >= 100000 THEN 'amount_high' WHEN y365 >= 30000 THEN 'amount_medium'
         WHEN n_all >= 1 THEN 'amount_low' END,
    CASE WHEN online > offline THEN 'pref_online' WHEN offline > online THEN 'pref_offline' END,
    CASE WHEN potential THEN 'potential' END,
    CASE WHEN last >= {last_ok(90)} THEN 'active' WHEN last >= {last_ok(179)} THEN 'dormant'
         WHEN last IS NOT NULL THEN 'churned' END
  ] AS tags FROM base) x, unnest(tags) AS u(tag) WHERE live AND tag IS NOT NULL
UNION ALL
SELECT l.customer_id, 'line_' || lower(l.code) FROM lines l JOIN linetot t USING (customer_id)
JOIN base b ON b.id = l.customer_id WHERE b.live AND t.tot > 0 AND l.amt >= 0.4 * t.tot;
CREATE OR REPLACE TABLE graded AS
WITH r AS (SELECT b.*, CASE WHEN q_spend > 0 AND live THEN row_number() OVER (ORDER BY live DESC, q_spend DESC, id) END AS rk_spend,
                  CASE WHEN n90 > 0 AND live THEN row_number() OVER (ORDER BY live DESC, n90 DESC, id) END AS rk_freq,
                  b.id IN (SELECT id FROM tagged WHERE tag = 'potential') AS pot FROM base b),
     q AS (SELECT id, (5 * count(*) OVER (ORDER BY last) + count(*) OVER () - 1) // count(*) OVER () AS r,
                  (5 * count(*) OVER (ORDER BY y_freq) + count(*) OVER () - 1) // count(*) OVER () AS f,
                  (5 * count(*) OVER (ORDER BY y365) + count(*) OVER () - 1) // count(*) OVER () AS m
           FROM base WHERE n_all > 0)
SELECT r.id, CASE WHEN NOT live THEN NULL WHEN rk_spend <= {a_top} THEN 'A'
                  WHEN rk_spend <= {b_top} OR rk_freq <= {b_freq_top} THEN 'B'
                  WHEN y365 > 0 THEN 'C' WHEN pot THEN 'D' END AS grade,
       coalesce(q.r, 0) AS r, coalesce(q.f, 0) AS f, coalesce(q.m, 0) AS m,
       least(5, CASE WHEN q.id IS NOT NULL THEN (q.f + q.m + 1) // 2 ELSE 1 END + CASE WHEN pot THEN 1 ELSE 0 END) AS stars
FROM r LEFT JOIN q ON q.id = r.id;
"""


def duck_run(con) -> tuple[float, dict]:
    t0 = time.perf_counter()
    con.execute(duck_sql())
    seconds = time.perf_counter() - t0
    tags = dict(con.execute("SELECT tag, count(*) FROM tagged GROUP BY 1").fetchall())
    grades = {g or "-": n for g, n in con.execute("SELECT grade, count(*) FROM graded GROUP BY 1").fetchall()}
    sums = con.execute("SELECT sum(stars), sum(r), sum(f), sum(m) FROM graded").fetchone()
    return seconds, {"tags": tags, "grades": grades, "stars_r_f_m": [int(x or 0) for x in sums]}


def incremental(kehu, n: int, seed: int) -> dict[str, list[float]]:
    """Milliseconds of the real-time path: an order's unit of work with and without its tag evaluation.

    For each of N random customers, one transaction inserts an order and stages `order.created` — the
    real-time hook (`kehu.tags.realtime`, installed as the app installs it) re-evaluates that customer's
    tags and grade inside the same transaction before it commits; the evaluation alone is timed
    ("update") and the whole unit of work with its commit ("with"). The same order transaction without
    the staged event ("without") is the baseline next to it, in the same run.
    """
    from sqlalchemy import insert, select

    from kehu import events
    from kehu.customers.models import Customer
    from kehu.kit.ids import new_id
    from kehu.orders.models import Order
    from kehu.tags import engine, realtime, service

    service.today = lambda: AS_OF  # the bench's data ends on its evaluation day
    realtime.install(kehu)
    rng = random.Random(seed)
    stamp = f"{int(time.time()) % 10**8:08d}"  # order numbers of this run: never those of an earlier one
    with kehu.db.reader() as s:
        every = list(s.execute(select(Customer.id).where(Customer.status != "archived")).scalars())
    ids = rng.sample(every, min(n, len(every)))
    out: dict[str, list[float]] = {"update": [], "with": [], "without": []}
    original = engine.evaluate_customers

    def timed(*a, **k):
        t0 = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            out["update"].append((time.perf_counter() - t0) * 1000)
    engine.evaluate_customers = timed
    try:
        for i, cid in enumerate(ids):
            for kind in ("without", "with"):
                t0 = time.perf_counter()
                with kehu.db.transaction() as s:
                    s.execute(insert(Order.__table__).values(
                        id=new_id(), customer_id=cid, order_no=f"HTB{stamp}{len(kind)}{i:06d}", status="signed",
                        delivery_status="pending", total_amount=Decimal("1234.00"),
                        created_at=datetime.combine(AS_OF, datetime.min.time(), timezone.utc) + timedelta(hours=10),
                        updated_at=datetime.now(timezone.utc)))
                    if kind == "with":
                        events.stage(s, "order.created", customer_id=cid)
                out[kind].append((time.perf_counter() - t0) * 1000)
    finally:
        engine.evaluate_customers = original
    assert len(out["update"]) == len(ids), "the real-time hook did not run once per order"
    return out


def reset_in_place(store: Path) -> None:
    """An in-place run starts like a copy: no tags, history, grades, quality figures or cut values; no orders of
    earlier runs."""
    con = sqlite3.connect(store)
    try:
        con.execute("PRAGMA foreign_keys=ON")
        for sql in ("DELETE FROM orders WHERE order_no LIKE 'HTB%'", "DELETE FROM customer_tags",
                    "DELETE FROM tag_history", "DELETE FROM customer_grades", "DELETE FROM tag_quality_snapshots",
                    "DELETE FROM tag_settings WHERE key IN ('rule_versions', 'grade.cuts', 'last_full_evaluation')"):
            con.execute(sql)
        con.commit()
    finally:
        con.close()


def note(**figures) -> None:
    """A figure as soon as it is known (stderr), so a later failure does not lose it."""
    print(json.dumps(figures, ensure_ascii=False), file=sys.stderr, flush=True)


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(values), "median": round(statistics.median(values), 2),
            "p95": round(ordered[int(0.95 * (len(values) - 1))], 2), "max": round(ordered[-1], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--incremental", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the re-evaluation and of the DuckDB SQL (the figures compared are the medians)")
    ap.add_argument("--in-place", action="store_true",
                    help="evaluate on the shared store itself (adds the tag tables and tags to it) instead of a copy: "
                         "for the 1M store, whose copy does not fit beside it on this disk")
    args = ap.parse_args()
    target = bigstore.DATA / f"big-{args.customers}-{args.orders}.db"
    t0 = time.perf_counter()
    bigstore.build(target, customers=args.customers, orders=args.orders, seed=args.seed)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if args.in_place:
        _runtime(target, bigstore.keys_for(target)).db.engine.dispose()  # migrated first
        reset_in_place(target)
    store = target if args.in_place else _copy(target)
    copy_s = time.perf_counter() - t0
    note(build_s=round(build_s, 1), copy_or_reset_s=round(copy_s, 1))
    kehu = _runtime(store, bigstore.keys_for(target))
    ours_s, ours = kehu_full(kehu)
    note(kehu_full_s=round(ours_s, 2), phases=ours["phases"], grades=ours["grades"])
    agains = []
    for _ in range(args.repeat):  # the scheduled re-evaluation: the tags are stored, only changes are written
        again_s, again = kehu_full(kehu)
        note(kehu_again_s=round(again_s, 2), phases=again["phases"])
        assert {k: again[k] for k in ("tags", "grades", "stars_r_f_m")} == {k: ours[k] for k in ("tags", "grades", "stars_r_f_m")}
        agains.append((again_s, again))
    with tempfile.TemporaryDirectory(dir=bigstore.DATA) as tmp:
        export_s = export_csv(store, Path(tmp))
        con, load_s = duck_load(Path(tmp))
        ducks = [duck_run(con) for _ in range(args.repeat)]
        con.close()
    duck = ducks[0][1]
    assert all(d == duck for _s, d in ducks)
    note(duckdb_export_s=round(export_s, 2), duckdb_load_s=round(load_s, 2), duckdb_sql_s=[round(s, 2) for s, _ in ducks])
    again_s, duck_s = statistics.median(s for s, _ in agains), statistics.median(s for s, _ in ducks)
    # what the DuckDB SQL computes too: tags, grades, RFM (the stored quality figures are Kehu's extra)
    core_s = statistics.median(s - a["phases"].get("quality", 0) - a["phases"].get("diff.groups", 0)
                               for s, a in agains)
    inc = incremental(kehu, args.incremental, args.seed)
    mismatch = {k: (ours["tags"].get(k, 0), duck["tags"].get(k, 0)) for k in set(ours["tags"]) | set(duck["tags"])
                if ours["tags"].get(k, 0) != duck["tags"].get(k, 0)}
    same = not mismatch and ours["grades"] == duck["grades"] and ours["stars_r_f_m"] == duck["stars_r_f_m"]
    result = {
        "params": vars(args), "as_of": AS_OF.isoformat(), "customers": ours["customers"], "rules": ours["rules"],
        "store_build_or_reuse_s": round(build_s, 1), "copy_s": round(copy_s, 1),
        "kehu_full_s": round(ours_s, 2), "kehu_phases_s": ours["phases"],
        "kehu_again_s": round(again_s, 2), "kehu_again_runs_s": [round(s, 2) for s, _ in agains],
        "kehu_again_phases_s": [a["phases"] for _s, a in agains],
        "duckdb_export_csv_s": round(export_s, 2), "duckdb_load_s": round(load_s, 2),
        "duckdb_sql_s": round(duck_s, 2), "duckdb_sql_runs_s": [round(s, 2) for s, _ in ducks],
        "ratio_kehu_vs_duckdb_sql": round(ours_s / duck_s, 1) if duck_s else None,
        "ratio_again_vs_duckdb_sql": round(again_s / duck_s, 1) if duck_s else None,  # median against median
        "kehu_again_tags_grades_rfm_s": round(core_s, 2),
        "ratio_again_tags_grades_rfm_vs_duckdb_sql": round(core_s / duck_s, 2) if duck_s else None,
        "incremental_ms": {k: _summary(v) for k, v in inc.items()},
        "same_results": same, "mismatch": mismatch, "grades": ours["grades"], "duck_grades": duck["grades"],
        "stars_r_f_m": ours["stars_r_f_m"], "duck_stars_r_f_m": duck["stars_r_f_m"],
        "tag_holders": dict(sorted(ours["tags"].items())),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    kehu.db.engine.dispose()
    if args.in_place:
        reset_in_place(target)  # the shared store keeps no bench orders (its report cells follow by trigger)
    for p in (store, Path(f"{store}-wal"), Path(f"{store}-shm")) if store != target else ():
        p.unlink(missing_ok=True)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
